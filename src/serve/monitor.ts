import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { AlertEngine, type AlertEngineOptions } from '../ops/alerts/engine.ts';
import { startAlertLoop, type AlertLoop } from '../ops/alerts/loop.ts';
import type { AlertRule } from '../ops/alerts/rules.ts';
import { listBackups } from '../ops/backup/list.ts';
import type { BackupRepo } from '../ops/backup/repo.ts';
import { backupRunner, startBackupSchedule, type BackupRunnerOptions, type BackupSchedule } from '../ops/backup/scheduler.ts';
import type { JeexDb } from '../db/create-db.ts';
import { checkHealth, type HealthOptions } from '../ops/health/check-health.ts';
import type { HealthDocument } from '../ops/health/types.ts';
import { collectPoolerMetrics, type PoolerMetrics } from '../ops/pooler/metrics.ts';
import { supervisePooler, type PoolerSupervisor, type SupervisePoolerOptions } from '../ops/pooler/supervise.ts';
import { startTelemetry, type Telemetry, type TelemetryOptions } from '../ops/telemetry/provider.ts';
import { registerServerMetrics, type ServerMetrics } from '../ops/telemetry/server-metrics.ts';
import { startHealthServer, type RunningHealthServer } from './http-server.ts';

export interface MonitorOptions {
  port: number;
  host?: string;
  /** The application's client (its pool, through PgBouncer when there is one): readiness and pool figures. */
  app: JeexDb;
  /** A direct connection for the health checks and server statistics (a pg_monitor role). */
  monitor: Sql;
  /** PgBouncer's admin console, when there is one. */
  pooler?: Sql;
  /**
   * Supervise the local cluster's PgBouncer (`supervisePooler`): restart it when it dies, log
   * each death and restart, and report them as `pgbouncer:restarts` (alert `pgbouncer-restarted`).
   */
  superviseLocalPooler?: SupervisePoolerOptions;
  /** Passed to checkHealth (thresholds, migrationsDir, lastBackup, ...). */
  health?: Omit<HealthOptions, 'pool' | 'pooler' | 'operations'>;
  /**
   * Evaluate the alert rules every `intervalMs` (default 15 s); false turns alerts off. The rest
   * goes to the engine: receivers, labels, repeat interval, `dir` (saved states and outbox).
   */
  alerts?: (Omit<AlertEngineOptions, 'rules'> & { logger: Logger; rules?: readonly AlertRule[]; intervalMs?: number }) | false;
  /** Start the OpenTelemetry provider (OTLP from OTEL_* variables; `prometheus` mounts /metrics); false: none. */
  telemetry?: TelemetryOptions | false;
  version?: string;
  /**
   * Scheduled backups of the local cluster (`backupRunner`: backup, verify, prune) on a cron
   * `schedule`; they feed `backup:age` (unless `health.lastBackup` is given) and `backup:lastRun`.
   */
  backups?: Omit<BackupRunnerOptions, 'verify'> & { schedule: string; logger: Logger; maxAttempts?: number; retryDelayMs?: number };
}

export interface RunningMonitor {
  server: RunningHealthServer;
  telemetry?: Telemetry;
  engine?: AlertEngine;
  backups?: BackupSchedule;
  poolerSupervisor?: PoolerSupervisor;
  /** Stop serving, evaluating and exporting (flushing what is pending); leaves the clients open. */
  stop(): Promise<void>;
}

/**
 * Everything `jeex-db serve` runs, as a library: the health endpoints, the alert loop over the
 * same health checks, and the metrics (server statistics, the app's pool, PgBouncer) exported
 * over OTLP and, when asked, at `/metrics`.
 *
 * @example
 * const monitor = await startMonitor({ port: 8081, app: createDb(), monitor: postgres(monitorUrl), alerts: { logger: pino() } });
 * // ... on shutdown
 * await monitor.stop();
 */
export async function startMonitor(options: MonitorOptions): Promise<RunningMonitor> {
  const telemetry = options.telemetry === false ? undefined : await startTelemetry(options.telemetry ?? {});
  // After the telemetry: the schedule's instruments come from the global meter provider.
  let backups: BackupSchedule | undefined;
  try {
    backups = options.backups ? scheduleBackups(options.backups) : undefined;
  } catch (error) {
    await telemetry?.shutdown();
    throw error;
  }
  const backupHealth = backups && options.backups ? { lastBackup: lastVerifiedBackup(backups, options.backups.repo), backupSchedule: () => backups.state() } : {};
  const supervisor = options.superviseLocalPooler ? supervisePooler(options.superviseLocalPooler) : undefined;
  const poolerHealth = {
    ...(options.pooler ? { pooler: options.pooler, poolerInAppPath: options.app.config.pooler === 'pgbouncer' } : {}),
    ...(supervisor ? { poolerSupervisor: () => supervisor.state() } : {}),
  };
  const health = (): Promise<HealthDocument> =>
    checkHealth(options.monitor, { ...backupHealth, ...options.health, pool: options.app.pool, operations: options.app.operations, ...poolerHealth });

  let serverMetrics: ServerMetrics | undefined;
  let poolerMetrics: PoolerMetrics | undefined;
  if (telemetry && (telemetry.otlp || telemetry.prometheus)) {
    serverMetrics = registerServerMetrics(telemetry.meter, options.monitor);
    if (options.pooler) poolerMetrics = collectPoolerMetrics(options.pooler, { meter: telemetry.meter });
  }

  let engine: AlertEngine | undefined;
  let loop: AlertLoop | undefined;
  if (options.alerts) {
    const { intervalMs, rules, ...engineOptions } = options.alerts;
    engine = new AlertEngine({ ...engineOptions, ...(rules ? { rules } : {}) });
    loop = startAlertLoop({ engine, check: health, intervalMs: intervalMs ?? 15_000, logger: options.alerts.logger });
  }

  let server: RunningHealthServer;
  try {
    server = await startHealthServer({
      port: options.port,
      ...(options.host ? { host: options.host } : {}),
      ready: async () => {
        await options.app.sql`SELECT 1`;
      },
      health,
      ...(telemetry?.prometheus ? { metrics: (request, response) => telemetry.prometheus?.handler(request, response) } : {}),
      ...(engine ? { alerts: () => engine.active() } : {}),
      ...(options.version ? { version: options.version } : {}),
    });
  } catch (error) {
    await supervisor?.stop();
    await backups?.stop();
    await loop?.stop();
    await engine?.close();
    serverMetrics?.close();
    poolerMetrics?.close();
    await telemetry?.shutdown();
    throw error;
  }
  return {
    server,
    ...(telemetry ? { telemetry } : {}),
    ...(engine ? { engine } : {}),
    ...(backups ? { backups } : {}),
    ...(supervisor ? { poolerSupervisor: supervisor } : {}),
    stop: async () => {
      await server.close();
      await supervisor?.stop();
      await backups?.stop();
      await loop?.stop();
      await engine?.close();
      serverMetrics?.close();
      poolerMetrics?.close();
      await telemetry?.shutdown();
    },
  };
}

function scheduleBackups(options: NonNullable<MonitorOptions['backups']>): BackupSchedule {
  const { schedule, logger, maxAttempts, retryDelayMs, ...runner } = options;
  return startBackupSchedule({
    schedule,
    logger,
    run: backupRunner(runner),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  });
}

/** The schedule's last success; before it had one (the process just started), the newest verified backup in the repository. */
function lastVerifiedBackup(schedule: BackupSchedule, repo: BackupRepo): () => Promise<Date | undefined> {
  return async () => {
    const last = schedule.state().lastSuccessAt;
    if (last) return last;
    const { backups } = await listBackups(repo);
    const newest = backups.filter((b) => b.verified === 'ok').at(-1);
    return newest ? new Date(newest.stoppedAt) : undefined;
  };
}
