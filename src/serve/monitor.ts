import { hostname } from 'node:os';
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
import { collectPoolerMetrics, poolerSnapshot, type PoolerMetrics } from '../ops/pooler/metrics.ts';
import { supervisePooler, type PoolerSupervisor, type SupervisePoolerOptions } from '../ops/pooler/supervise.ts';
import { startTelemetry, type Telemetry, type TelemetryOptions } from '../ops/telemetry/provider.ts';
import { registerServerMetrics, type ServerMetrics } from '../ops/telemetry/server-metrics.ts';
import { JeexDbError } from '../core/errors.ts';
import { cached } from './cached.ts';
import { startHealthServer, type RunningHealthServer } from './http-server.ts';

/** How long /health reuses the last evaluation (the alert loop's, or one of its own). */
const HEALTH_REUSE_MS = 2000;

export interface MonitorOptions {
  port: number;
  host?: string;
  /**
   * The application's own client (its pool, through PgBouncer when there is one): its figures
   * are judged (`pool:usage`, `pool:waiting`, `pool:operationP95`) and, without `probe`, /readyz
   * runs through it. Give `app` or `probe` (or both).
   */
  app?: JeexDb;
  /**
   * A client of the monitor's own on the application's path (what `jeex-db serve` opens, 2
   * connections), used only for /readyz: its pool is not the application's, so its figures are
   * not judged (its probes queued during an outage are no measure of the app).
   */
  probe?: JeexDb;
  /**
   * Whether the application's connections go through `pooler` (then a PgBouncer that does not
   * answer fails `pgbouncer:reachable` and /health). Default: the readiness client uses PgBouncer
   * (`config.pooler === 'pgbouncer'`).
   */
  poolerInAppPath?: boolean;
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
  /**
   * Start the OpenTelemetry provider (OTLP from OTEL_* variables; `prometheus` mounts /metrics;
   * `service.instance.id` defaults to `<host name>:<port>`), or use one started already (start
   * it before `createDb()` so the app pool's metrics are exported; the caller shuts it down); false: none.
   */
  telemetry?: TelemetryOptions | Telemetry | false;
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
  /** Stop serving, evaluating and exporting (flushing what is pending, unless the telemetry was given); leaves the clients open. */
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
  const given = options.telemetry && 'provider' in options.telemetry ? options.telemetry : undefined;
  const telemetry =
    options.telemetry === false ? undefined : (given ?? (await startTelemetry({ defaultInstanceId: `${hostname()}:${options.port}`, ...(options.telemetry as TelemetryOptions | undefined) })));
  const stopTelemetry = async () => {
    if (!given) await telemetry?.shutdown();
  };
  // After the telemetry: the schedule's instruments come from the global meter provider.
  let backups: BackupSchedule | undefined;
  try {
    backups = options.backups ? scheduleBackups(options.backups) : undefined;
  } catch (error) {
    await stopTelemetry();
    throw error;
  }
  const backupHealth = backups && options.backups ? { lastBackup: lastVerifiedBackup(backups, options.backups.repo), backupSchedule: () => backups.state() } : {};
  const readinessClient = options.probe ?? options.app;
  if (!readinessClient) {
    await backups?.stop();
    await telemetry?.shutdown();
    throw new JeexDbError('INVALID_CONFIG', 'startMonitor needs the application\'s client (`app`) or a readiness client on its path (`probe`)', {
      hint: 'Pass `app: createDb()` (its pool is judged too), or `probe: createDb({ max: 2 })` for /readyz only.',
    });
  }
  const supervisor = options.superviseLocalPooler ? supervisePooler(options.superviseLocalPooler) : undefined;
  const poolerHealth = {
    ...(options.pooler ? { pooler: options.pooler, poolerInAppPath: options.poolerInAppPath ?? readinessClient.config.pooler === 'pgbouncer' } : {}),
    ...(supervisor ? { poolerSupervisor: () => supervisor.state() } : {}),
  };
  const appHealth = options.app ? { pool: options.app.pool, operations: options.app.operations } : {};
  // One evaluation for the alert loop and /health: the loop asks for a fresh one, /health reuses
  // the last for 2 s; never two runs of the checks at once on the monitoring connection.
  const health = cached(HEALTH_REUSE_MS, (): Promise<HealthDocument> => checkHealth(options.monitor, { ...backupHealth, ...options.health, ...appHealth, ...poolerHealth }));

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
    loop = startAlertLoop({ engine, check: () => health.fresh(), intervalMs: intervalMs ?? 15_000, logger: options.alerts.logger });
  }

  let server: RunningHealthServer;
  try {
    server = await startHealthServer({
      port: options.port,
      ...(options.host ? { host: options.host } : {}),
      ready: async () => {
        await readinessClient.sql`SELECT 1`;
      },
      saturation: () => saturation(readinessClient === options.app ? options.app : undefined, options.pooler),
      health,
      healthCacheMs: 0,
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
    await stopTelemetry();
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
      await stopTelemetry();
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

/**
 * Why a readiness probe that got no answer is only queued (undefined: it is not): the app's own
 * pool has every connection busy and requests waiting, or a PgBouncer pool has clients waiting
 * while its server connections are busy (PostgreSQL serves; when it is down PgBouncer has no
 * server connection and the clients wait too, which is not saturation).
 */
async function saturation(app: JeexDb | undefined, pooler: Sql | undefined): Promise<string | undefined> {
  const pool = app?.pool();
  if (pool && pool.pending > 0 && pool.used >= pool.max) return `the app's pool has all ${pool.max} connections in use and ${pool.pending} request(s) waiting (pool:waiting)`;
  if (!pooler) return undefined;
  const { pools } = await poolerSnapshot(pooler);
  const busy = pools.filter((p) => p.clientsWaiting > 0 && p.serversActive > 0);
  if (busy.length === 0) return undefined;
  return `PgBouncer's pool ${busy.map((p) => `${p.database}/${p.user} has ${p.serversActive} server connection(s) busy and ${p.clientsWaiting} client(s) waiting up to ${Math.round(p.maxWaitSeconds * 10) / 10} s`).join('; ')} (pgbouncer:clientsWaiting, pgbouncer:maxWait)`;
}
