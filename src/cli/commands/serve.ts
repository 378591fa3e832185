import { packageVersion } from '../../core/package.ts';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { connect } from '../../db/connect.ts';
import { loadAlertRules } from '../../ops/alerts/rules.ts';
import { defaultRepo, type BackupRepo } from '../../ops/backup/repo.ts';
import { createDb } from '../../db/create-db.ts';
import { JeexDbError } from '../../core/errors.ts';
import { maskUrl } from '../../db/url.ts';
import { DEFAULT_HEALTH_TIMEOUT_MS } from '../../ops/health/check-health.ts';
import { resolveHealthTarget } from '../../ops/health/target.ts';
import { localLayout } from '../../local/layout.ts';
import { localUrl, readLocalState } from '../../local/state.ts';
import { defaultMigrationsDir } from '../../migrate/runner.ts';
import { poolerAdmin } from '../../ops/pooler/admin.ts';
import { serverOsUser } from '../../platform/os-user.ts';
import { startMonitor } from '../../serve/monitor.ts';
import { dataDirOption, intArg, urlOption } from '../options.ts';
import { dim, jsonOption, note, printJson, reportError } from '../output.ts';

/** The local cluster's ports are 5418 (PostgreSQL) and 6418 (PgBouncer); the monitor is 7418. */
export const DEFAULT_SERVE_PORT = 7418;

const pkg = { version: packageVersion() };

export interface ServeFlags {
  port: number;
  host: string;
  url?: string;
  appUrl?: string;
  dataDir: string;
  migrations: boolean;
  alerts: boolean;
  alertRules?: string;
  alertInterval: number;
  prometheus?: boolean;
  /** Cron pattern of scheduled backups of the local cluster (or JEEX_BACKUP_SCHEDULE). */
  backupSchedule?: string;
  backupKeepCount?: number;
  backupKeepDays?: number;
  json?: boolean;
}

/** The options `serve` and `up --serve` share. */
export function addServeOptions(command: Command): Command {
  return command
    .option('--host <host>', 'address the health server listens on (0.0.0.0 for probes from outside)', '127.0.0.1')
    .option('--alert-rules <file>', 'alert rules (JSON) instead of the defaults (see docs/monitoring.md, "Alerts")')
    .addOption(new Option('--alert-interval <seconds>', 'how often the alert rules are evaluated').argParser(intArg(1, 3600)).default(15))
    .option('--no-alerts', 'do not evaluate alert rules')
    .option('--prometheus', 'also serve the metrics at GET /metrics (Prometheus text format)');
}

export interface ServeTargets {
  /** The monitoring connection (direct). */
  monitorUrl: string;
  /** The application's path (its URL through PgBouncer when there is one); undefined: createDb() resolves it. */
  appUrl?: string;
  poolerConsoleUrl?: string;
  /** The app's path is the local cluster's PgBouncer (urls.app): createDb is told so (its errors name PgBouncer, no named statements before 1.21). */
  appThroughPooler?: boolean;
  /** The local cluster's PgBouncer, supervised while serve runs. */
  localPooler?: { dir: string };
  /** With --backup-schedule: the local cluster to back up (its backup role on the app database) and its repository. */
  backups?: { url: string; dataDir: string; repo: BackupRepo };
}

/**
 * Serve the health endpoints, the alerts and the metrics until `stopped` resolves. Resolves with
 * the address once listening (`onListening`), and again when stopped.
 */
export async function serveUntil(flags: ServeFlags, targets: ServeTargets, stopped: Promise<unknown>, onListening: (url: string) => void): Promise<void> {
  // Log lines (one JSON object each) go to stderr: stdout holds the one --json document.
  const logger = pino({ base: { service: 'jeex-db' } }, pino.destination({ dest: 2, sync: true }));
  const app = createDb({ ...(targets.appUrl ? { url: targets.appUrl } : {}), ...(targets.appThroughPooler ? { pooler: 'pgbouncer' as const } : {}), applicationName: 'jeex-db serve (readiness)', max: 2 });
  const monitor = connect(targets.monitorUrl, { max: 2, onnotice: () => {}, connect_timeout: 5, connection: { application_name: 'jeex-db serve (health)' } });
  const pooler = targets.poolerConsoleUrl ? poolerAdmin(targets.poolerConsoleUrl) : undefined;
  // The backup's own client: takeBaseBackup reserves one connection for pg_backup_start/stop.
  const backupSql = targets.backups && flags.backupSchedule ? connect(targets.backups.url, { max: 2, onnotice: () => {}, connect_timeout: 10, connection: { application_name: 'jeex-db serve (backup)' } }) : undefined;
  try {
    const rules = flags.alertRules ? await loadAlertRules(flags.alertRules) : undefined;
    const as = backupSql || targets.localPooler ? await serverOsUser() : undefined;
    const running = await startMonitor({
      port: flags.port,
      host: flags.host,
      app,
      monitor,
      ...(pooler ? { pooler } : {}),
      // The local cluster's PgBouncer is restarted when it dies, while this runs.
      ...(targets.localPooler ? { superviseLocalPooler: { dir: targets.localPooler.dir, logger, ...(as ? { as } : {}) } } : {}),
      health: { timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS, ...(flags.migrations ? { migrationsDir: defaultMigrationsDir } : {}) },
      alerts: flags.alerts ? { logger, intervalMs: flags.alertInterval * 1000, ...(rules ? { rules } : {}) } : false,
      telemetry: { prometheus: Boolean(flags.prometheus) },
      version: pkg.version,
      ...(backupSql && targets.backups && flags.backupSchedule
        ? {
            backups: {
              schedule: flags.backupSchedule,
              logger,
              sql: backupSql,
              repo: targets.backups.repo,
              dataDir: targets.backups.dataDir,
              ...(as ? { as } : {}),
              ...(flags.backupKeepCount ? { keepCount: flags.backupKeepCount } : {}),
              ...(flags.backupKeepDays ? { keepDays: flags.backupKeepDays } : {}),
            },
          }
        : {}),
    }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new JeexDbError('PORT_IN_USE', `port ${flags.port} on ${flags.host} is taken: the health server cannot listen there`, {
          hint: `Pick another with --port (or stop what listens there: \`ss -ltnp 'sport = :${flags.port}'\`).`,
        });
      }
      throw error;
    });
    onListening(running.server.url);
    await stopped;
    await running.stop();
  } finally {
    await Promise.all([app.close(1), monitor.end({ timeout: 1 }), pooler?.end({ timeout: 1 }), backupSql?.end({ timeout: 1 })]);
    logger.flush();
  }
}

/** The URLs `serve` uses: --url / JEEX_DB_MONITOR_URL / DATABASE_URL / the local cluster; the app's path from --app-url or the local cluster's app URL. */
export function resolveServeTargets(flags: Pick<ServeFlags, 'url' | 'appUrl' | 'dataDir' | 'backupSchedule'>): ServeTargets {
  const target = resolveHealthTarget({ ...(flags.url ? { url: flags.url } : {}), dataDir: flags.dataDir });
  const layout = localLayout(flags.dataDir);
  const localApp = target.source === 'local' ? localUrl(layout, 'app') : undefined;
  const appUrl = flags.appUrl ?? localApp;
  const pooled = target.source === 'local' && Boolean(readLocalState(layout)?.pooler);
  const backups = flags.backupSchedule ? backupTarget(flags.dataDir, target.source) : undefined;
  return {
    monitorUrl: target.url,
    ...(appUrl ? { appUrl } : {}),
    ...(pooled && !flags.appUrl ? { appThroughPooler: true } : {}),
    ...(pooled ? { localPooler: { dir: layout.pgbouncerDir } } : {}),
    ...(target.poolerConsoleUrl ? { poolerConsoleUrl: target.poolerConsoleUrl } : {}),
    ...(backups ? { backups } : {}),
  };
}

/** Scheduled backups copy the local cluster's data directory, so they need it and a monitor on it. */
function backupTarget(dataDir: string, source: string): NonNullable<ServeTargets['backups']> {
  const layout = localLayout(dataDir);
  const state = readLocalState(layout);
  const url = state ? (localUrl(layout, 'backup', { database: state.database }) ?? localUrl(layout, 'superuser', { database: state.database })) : undefined;
  if (source !== 'local' || !url) {
    const why = source !== 'local' ? `the monitoring connection comes from ${source === 'flag' ? '--url' : source}, not from the local cluster` : `there is no local cluster in ${layout.root}`;
    throw new JeexDbError('INVALID_CONFIG', `--backup-schedule backs up the local cluster of --data-dir, and ${why}.`, {
      hint: source !== 'local'
        ? `Run \`jeex-db serve --backup-schedule ...\` without --url (unset JEEX_DB_MONITOR_URL and DATABASE_URL for it) on the machine of the cluster, or schedule \`jeex-db backup\` and \`jeex-db verify\` with cron for another server.`
        : 'Start it with `jeex-db up` (or point --data-dir at it), or drop --backup-schedule.',
      context: { dataDir: layout.root },
    });
  }
  return { url, dataDir, repo: defaultRepo(layout) };
}

function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('serve /livez, /readyz and /health (and /metrics, /alerts), evaluate alert rules and export metrics until Ctrl-C')
    .addOption(new Option('--port <n>', 'port of the health server').argParser(intArg(0, 65535)).default(DEFAULT_SERVE_PORT))
    .addOption(urlOption('monitor'))
    .option('--app-url <url>', "the application's path, probed by /readyz (default: the URL createDb() resolves: the local app URL through PgBouncer)")
    .addOption(dataDirOption())
    .option('--no-migrations', 'do not check that the migrations are applied')
    .option('--backup-schedule <cron>', 'back up, verify and prune the local cluster on this cron schedule, e.g. "0 3 * * *" (default: JEEX_BACKUP_SCHEDULE; none)', process.env.JEEX_BACKUP_SCHEDULE || undefined)
    .addOption(new Option('--backup-keep-count <n>', 'with --backup-schedule: keep this many backups when pruning').argParser(intArg(1, 10_000)))
    .addOption(new Option('--backup-keep-days <n>', 'with --backup-schedule: keep backups this many days when pruning').argParser(intArg(1, 36_500)));
  return addServeOptions(command)
    .addOption(jsonOption())
    .action(async (flags: ServeFlags) => {
      const json = Boolean(flags.json);
      try {
        const targets = resolveServeTargets(flags);
        await serveUntil(flags, targets, stopSignal(), (url) => {
          const endpoints = { livez: `${url}/livez`, readyz: `${url}/readyz`, health: `${url}/health`, ...(flags.prometheus ? { metrics: `${url}/metrics` } : {}), ...(flags.alerts ? { alerts: `${url}/alerts` } : {}) };
          const backups = targets.backups && flags.backupSchedule ? { schedule: flags.backupSchedule, repo: targets.backups.repo.root } : undefined;
          if (json) printJson({ ok: true, url, endpoints, monitor: maskUrl(targets.monitorUrl), ...(targets.appUrl ? { app: maskUrl(targets.appUrl) } : {}), ...(backups ? { backups } : {}) });
          else {
            note(`serving ${Object.values(endpoints).join(' ')}`);
            if (backups) note(dim(`backups "${backups.schedule}" into ${backups.repo} (verified, pruned)`));
            note(dim(`monitoring ${maskUrl(targets.monitorUrl)}${targets.appUrl ? `; readiness through ${maskUrl(targets.appUrl)}` : ''}; Ctrl-C stops`));
          }
        });
      } catch (error) {
        reportError(error, json);
      }
    });
}
