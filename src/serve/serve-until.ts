import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { JeexDbError } from '../core/errors.ts';
import { packageVersion } from '../core/package.ts';
import { parseConnString } from '../db/conn-string.ts';
import { connect } from '../db/connect.ts';
import { createDb } from '../db/create-db.ts';
import { defaultMigrationsDir } from '../migrate/runner.ts';
import { parseAlertLabels } from '../ops/alerts/notification.ts';
import { alertReceivers } from '../ops/alerts/receiver.ts';
import { loadAlertRules } from '../ops/alerts/rules.ts';
import { localLayout } from '../local/layout.ts';
import { DEFAULT_HEALTH_TIMEOUT_MS } from '../ops/health/check-health.ts';
import { poolerAdmin } from '../ops/pooler/admin.ts';
import { startTelemetry, type Telemetry } from '../ops/telemetry/provider.ts';
import { serverOsUser } from '../platform/os-user.ts';
import { startMonitor } from './monitor.ts';
import type { ServeTargets } from './targets.ts';

/** The local cluster's ports are 5418 (PostgreSQL) and 6418 (PgBouncer); the monitor is 7418. */
export const DEFAULT_SERVE_PORT = 7418;

/** What `jeex-db serve` (and `up --serve`) runs, besides where it connects (`ServeTargets`). */
export interface ServeSettings {
  port: number;
  host: string;
  /** /health checks that the package's migrations are applied. */
  migrations: boolean;
  /** Evaluate the alert rules. */
  alerts: boolean;
  /** A JSON file of alert rules instead of the defaults. */
  alertRules?: string;
  /** Seconds between two evaluations of the alert rules. */
  alertInterval: number;
  /** Alertmanager base URLs (each of an HA pair); default JEEX_ALERTMANAGER_URL. */
  alertmanagerUrl?: string[];
  /** Generic webhook URLs; default JEEX_ALERT_WEBHOOK_URL. */
  alertWebhookUrl?: string[];
  /** `name=value` labels on every alert, over JEEX_ALERT_LABELS. */
  alertLabel?: string[];
  /** Seconds between two sends of a firing alert to Alertmanager; default JEEX_ALERT_REPEAT_INTERVAL, else 60. */
  alertRepeatInterval?: number;
  /** The local cluster's directory: alert states and undelivered notifications are kept in its `alerts/` (when it exists). */
  dataDir?: string;
  /** Also serve the metrics at GET /metrics. */
  prometheus?: boolean;
  /** Cron pattern of scheduled backups of the local cluster (needs `targets.backups`). */
  backupSchedule?: string;
  backupKeepCount?: number;
  backupKeepDays?: number;
  /** Where the alerts, the scheduled backups and PgBouncer's restarts are logged. */
  logger: Logger;
  /** Reported by /health (default: this package's version). */
  version?: string;
}

/**
 * Serve the health endpoints, the alerts and the metrics (`startMonitor`) until `stopped`
 * resolves, opening the clients `targets` name and closing them at the end. `onListening` gets
 * the server's URL once it listens. PORT_IN_USE when the port is taken.
 *
 * @example
 * const targets = resolveServeTargets({ dataDir: '.jeex-db' });
 * await serveUntil({ port: DEFAULT_SERVE_PORT, host: '127.0.0.1', migrations: true, alerts: true, alertInterval: 15, logger: pino() }, targets, once(process, 'SIGTERM'), (url) => logger.info(`serving ${url}`));
 */
export async function serveUntil(settings: ServeSettings, targets: ServeTargets, stopped: Promise<unknown>, onListening: (url: string) => void): Promise<void> {
  // Before the clients: createDb takes its pool's meters (db.client.connection.*) from the
  // provider registered at that moment, and meters taken earlier stay no-op.
  const telemetry = await startTelemetry({ prometheus: Boolean(settings.prometheus), logger: settings.logger, defaultInstanceId: `${hostname()}:${settings.port}` });
  try {
    await serveWith(telemetry, settings, targets, stopped, onListening);
  } finally {
    await telemetry.shutdown();
  }
}

async function serveWith(telemetry: Telemetry, settings: ServeSettings, targets: ServeTargets, stopped: Promise<unknown>, onListening: (url: string) => void): Promise<void> {
  const { logger } = settings;
  // The readiness client: serve's own, on the app's path; its pool is not the app's (startMonitor's
  // `probe`: not judged by pool:*). Short limits, so probes that hang in a saturated or dead path
  // do not pile up behind each other.
  const throughPooler = Boolean(targets.appThroughPooler) || samePgBouncer(targets.appUrl, targets.poolerConsoleUrl);
  const probe = createDb({
    ...(targets.appUrl ? { url: targets.appUrl } : {}),
    ...(throughPooler ? { pooler: 'pgbouncer' as const } : {}),
    applicationName: 'jeex-db serve (readiness)',
    max: 2,
    acquireTimeout: 2000,
    queryTimeout: 5000,
  });
  const monitor = connect(targets.monitorUrl, { max: 2, onnotice: () => {}, connect_timeout: 5, connection: { application_name: 'jeex-db serve (health)' } });
  const pooler = targets.poolerConsoleUrl ? poolerAdmin(targets.poolerConsoleUrl) : undefined;
  // The backup's own client: takeBaseBackup reserves one connection for pg_backup_start/stop.
  const backupSql = targets.backups && settings.backupSchedule ? connect(targets.backups.url, { max: 2, onnotice: () => {}, connect_timeout: 10, connection: { application_name: 'jeex-db serve (backup)' } }) : undefined;
  try {
    const rules = settings.alertRules ? await loadAlertRules(settings.alertRules) : undefined;
    const as = backupSql || targets.localPooler ? await serverOsUser() : undefined;
    const running = await startMonitor({
      port: settings.port,
      host: settings.host,
      probe,
      monitor,
      ...(pooler ? { pooler, poolerInAppPath: throughPooler } : {}),
      // The local cluster's PgBouncer is restarted when it dies, while this runs.
      ...(targets.localPooler ? { superviseLocalPooler: { dir: targets.localPooler.dir, logger, ...(as ? { as } : {}) } } : {}),
      health: { timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS, ...(settings.migrations ? { migrationsDir: defaultMigrationsDir } : {}), ...targets.localChecks },
      alerts: settings.alerts ? { logger, intervalMs: settings.alertInterval * 1000, ...(rules ? { rules } : {}), ...alertDelivery(settings) } : false,
      telemetry,
      version: settings.version ?? packageVersion(),
      ...(backupSql && targets.backups && settings.backupSchedule
        ? {
            backups: {
              schedule: settings.backupSchedule,
              logger,
              sql: backupSql,
              repo: targets.backups.repo,
              dataDir: targets.backups.dataDir,
              ...(as ? { as } : {}),
              ...(settings.backupKeepCount ? { keepCount: settings.backupKeepCount } : {}),
              ...(settings.backupKeepDays ? { keepDays: settings.backupKeepDays } : {}),
            },
          }
        : {}),
    }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new JeexDbError('PORT_IN_USE', `port ${settings.port} on ${settings.host} is taken: the health server cannot listen there`, {
          hint: `Pick another with --port (or stop what listens there: \`ss -ltnp 'sport = :${settings.port}'\`).`,
        });
      }
      throw error;
    });
    onListening(running.server.url);
    await stopped;
    await running.stop();
  } finally {
    await Promise.all([probe.close(1), monitor.end({ timeout: 1 }), pooler?.end({ timeout: 1 }), backupSql?.end({ timeout: 1 })]);
  }
}

/**
 * Whether the app's connection string goes through that PgBouncer: one of its hosts is the admin
 * console's host and port. Either form libpq takes (a URL, with several hosts too, or
 * `host=... port=...`); a string that cannot be read is not that PgBouncer.
 */
export function samePgBouncer(appUrl: string | undefined, consoleUrl: string | undefined): boolean {
  if (!appUrl || !consoleUrl) return false;
  try {
    const where = (text: string) => {
      const { hosts } = parseConnString(text);
      return hosts.length > 0 ? hosts.map((h) => `${h.host}:${h.port}`) : ['localhost:5432'];
    };
    const [console] = where(consoleUrl);
    return where(appUrl).includes(console ?? '');
  } catch {
    return false;
  }
}

/** Where serve's alerts go and what they carry: flags over the environment; the state in `<data dir>/alerts/` when the data dir exists. */
function alertDelivery(settings: ServeSettings) {
  const root = localLayout(settings.dataDir).root;
  const dir = existsSync(root) ? join(root, 'alerts') : undefined;
  if (!dir) settings.logger.warn({ dataDir: root }, `no data directory at ${root}: alert states and undelivered notifications are kept in memory only (pass --data-dir to keep them across restarts)`);
  return {
    receivers: alertReceivers({ ...(settings.alertmanagerUrl?.length ? { alertmanagerUrls: settings.alertmanagerUrl } : {}), ...(settings.alertWebhookUrl?.length ? { webhookUrls: settings.alertWebhookUrl } : {}) }),
    ...(settings.alertLabel?.length ? { labels: parseAlertLabels(settings.alertLabel, '--alert-label') } : {}),
    ...(settings.alertRepeatInterval ? { repeatIntervalMs: settings.alertRepeatInterval * 1000 } : {}),
    // With port 0 the port is known only once it listens, after the engine is made.
    ...(settings.port ? { generatorUrl: `http://${hostname()}:${settings.port}/alerts` } : {}),
    ...(dir ? { dir } : {}),
  };
}
