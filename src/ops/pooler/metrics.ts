import { metrics, type Attributes, type BatchObservableCallback, type BatchObservableResult, type Meter, type Observable } from '@opentelemetry/api';
import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { withTimeout } from '../../core/timeout.ts';
import { SeriesTracker } from '../../db/fresh-series.ts';
import { showPools, showStats } from './admin.ts';

/** One pool (database × user) of a PgBouncer, from SHOW POOLS. */
export interface PoolerPool {
  database: string;
  user: string;
  /** Clients linked to a server connection or idle with nothing to do (`cl_active`). */
  clientsActive: number;
  /** Clients that sent a query and wait for a server connection (`cl_waiting`). */
  clientsWaiting: number;
  /** Server connections linked to a client (`sv_active`). */
  serversActive: number;
  /** Server connections ready for a client (`sv_idle`). */
  serversIdle: number;
  /** Server connections back from a client, waiting for server_check_query (`sv_used`). */
  serversUsed: number;
  /** Server connections logging in (`sv_login`). */
  serversLogin: number;
  /** How long the oldest waiting client has waited, in seconds (`maxwait` + `maxwait_us`). */
  maxWaitSeconds: number;
  /** `transaction`, `session` or `statement`. */
  mode: string;
}

/** One database's totals since PgBouncer started, from SHOW STATS. */
export interface PoolerDatabaseStats {
  database: string;
  /** Transactions pooled (`total_xact_count`). */
  transactions: number;
  /** Queries pooled (`total_query_count`). */
  queries: number;
  /** Time clients spent waiting for a server connection, in seconds (`total_wait_time`). */
  waitSeconds: number;
  /** Average wait in the last stats period (`avg_wait_time`, seconds). */
  avgWaitSeconds: number;
  /** Average transaction duration in the last stats period (`avg_xact_time`, seconds). */
  avgTransactionSeconds: number;
}

/** What PgBouncer reports right now, without its own "pgbouncer" admin database. */
export interface PoolerSnapshot {
  pools: PoolerPool[];
  databases: PoolerDatabaseStats[];
  /** Summed over the pools (maxWaitSeconds: the largest). */
  totals: { clientsActive: number; clientsWaiting: number; serversActive: number; serversIdle: number; maxWaitSeconds: number };
}

/** The admin console's own virtual database: not a pool of the application. */
const ADMIN_DATABASE = 'pgbouncer';

const num = (value: unknown): number => {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
};
const MICRO = 1e-6;

/**
 * Read SHOW POOLS and SHOW STATS from a PgBouncer admin console (a client from `poolerAdmin`,
 * logged in as an admin or stats user) as typed numbers, for health checks and the CLI.
 *
 * @example
 * const admin = poolerAdmin('postgres://jeex_pgbouncer:secret@127.0.0.1:6418/pgbouncer');
 * const { totals } = await poolerSnapshot(admin);
 * if (totals.clientsWaiting > 0) console.warn(`clients wait up to ${totals.maxWaitSeconds}s`);
 */
export async function poolerSnapshot(admin: Sql): Promise<PoolerSnapshot> {
  // One after the other: the admin client has a single connection.
  const poolRows = await showPools(admin);
  const statRows = await showStats(admin);
  const pools = poolRows
    .filter((row) => row.database !== ADMIN_DATABASE)
    .map(
      (row): PoolerPool => ({
        database: row.database,
        user: row.user,
        clientsActive: num(row.cl_active),
        clientsWaiting: num(row.cl_waiting),
        serversActive: num(row.sv_active),
        serversIdle: num(row.sv_idle),
        serversUsed: num(row.sv_used),
        serversLogin: num(row.sv_login),
        maxWaitSeconds: num(row.maxwait) + num(row.maxwait_us) * MICRO,
        mode: String(row.pool_mode ?? ''),
      }),
    );
  const databases = statRows
    .filter((row) => row.database !== ADMIN_DATABASE)
    .map(
      (row): PoolerDatabaseStats => ({
        database: row.database,
        transactions: num(row.total_xact_count),
        queries: num(row.total_query_count),
        waitSeconds: num(row.total_wait_time) * MICRO,
        avgWaitSeconds: num(row.avg_wait_time) * MICRO,
        avgTransactionSeconds: num(row.avg_xact_time) * MICRO,
      }),
    );
  const sum = (pick: (pool: PoolerPool) => number) => pools.reduce((total, pool) => total + pick(pool), 0);
  return {
    pools,
    databases,
    totals: {
      clientsActive: sum((p) => p.clientsActive),
      clientsWaiting: sum((p) => p.clientsWaiting),
      serversActive: sum((p) => p.serversActive),
      serversIdle: sum((p) => p.serversIdle),
      maxWaitSeconds: pools.reduce((most, p) => Math.max(most, p.maxWaitSeconds), 0),
    },
  };
}

export interface PoolerMetricsOptions {
  /** The meter to register on. Default: `metrics.getMeter('jeex-db')` from the global provider. */
  meter?: Meter;
  /** Milliseconds a scrape may take; after that only `pgbouncer.up` = 0 is reported. Default 2000. */
  timeoutMs?: number;
  /** Told about a failed scrape (only `pgbouncer.up` = 0 is reported then: no stale values). */
  onError?: (error: JeexDbError) => void;
}

export interface PoolerMetrics {
  /** Stop reporting (the admin client is the caller's to end). */
  close(): void;
}

/**
 * Report a PgBouncer's pools and totals as OpenTelemetry metrics through @opentelemetry/api,
 * read from its admin console each time the SDK collects (one SHOW POOLS + SHOW STATS for all
 * instruments). Per pool, with `db.namespace` and `user`: `pgbouncer.clients.active`,
 * `.clients.waiting`, `.servers.active`, `.servers.idle`, `.clients.max_wait` (s). Per database,
 * with `db.namespace`: `pgbouncer.transactions`, `pgbouncer.queries` and `pgbouncer.wait_time`
 * (s; cumulative since PgBouncer started) and `pgbouncer.wait_time.avg` (s). `pgbouncer.up` is 1
 * when the last scrape worked, else 0; after a failed scrape the other series are not exported
 * (Prometheus and OTLP, see db/fresh-series.ts) until one works again. It never throws into the SDK.
 *
 * Register the SDK's MeterProvider before calling this: meters taken earlier stay no-op.
 *
 * @example
 * const admin = poolerAdmin(adminConsoleUrl);
 * const collector = collectPoolerMetrics(admin, { onError: (e) => log.warn(e.message) });
 * // on shutdown:
 * collector.close(); await admin.end();
 */
export function collectPoolerMetrics(admin: Sql, options: PoolerMetricsOptions = {}): PoolerMetrics {
  const meter = options.meter ?? metrics.getMeter('jeex-db');
  const timeoutMs = options.timeoutMs ?? 2000;
  const names: [Observable, string][] = [];
  const named = <T extends Observable>(name: string, observable: T): T => {
    names.push([observable, name]);
    return observable;
  };
  const gauge = (name: string, unit: string, description: string) => named(name, meter.createObservableGauge(name, { unit, description }));
  const upDown = (name: string, unit: string, description: string) => named(name, meter.createObservableUpDownCounter(name, { unit, description }));
  const counter = (name: string, unit: string, description: string) => named(name, meter.createObservableCounter(name, { unit, description }));
  const perPool: [Observable, (pool: PoolerPool) => number][] = [
    [upDown('pgbouncer.clients.active', '{client}', 'Clients linked to a server connection or idle'), (p) => p.clientsActive],
    [upDown('pgbouncer.clients.waiting', '{client}', 'Clients waiting for a server connection'), (p) => p.clientsWaiting],
    [upDown('pgbouncer.servers.active', '{connection}', 'Server connections linked to a client'), (p) => p.serversActive],
    [upDown('pgbouncer.servers.idle', '{connection}', 'Server connections ready for a client'), (p) => p.serversIdle],
    [gauge('pgbouncer.clients.max_wait', 's', 'How long the oldest waiting client has waited'), (p) => p.maxWaitSeconds],
  ];
  const perDatabase: [Observable, (db: PoolerDatabaseStats) => number][] = [
    [counter('pgbouncer.transactions', '{transaction}', 'Transactions pooled since PgBouncer started'), (d) => d.transactions],
    [counter('pgbouncer.queries', '{query}', 'Queries pooled since PgBouncer started'), (d) => d.queries],
    [counter('pgbouncer.wait_time', 's', 'Time clients waited for a server connection since PgBouncer started'), (d) => d.waitSeconds],
    [gauge('pgbouncer.wait_time.avg', 's', 'Average wait for a server connection in the last stats period'), (d) => d.avgWaitSeconds],
  ];
  const up = gauge('pgbouncer.up', '', '1 when the last read of the admin console worked, else 0');
  const observables = [...perPool.map(([o]) => o), ...perDatabase.map(([o]) => o), up];
  const tracker = new SeriesTracker(names);

  let inflight: Promise<PoolerSnapshot | undefined> | undefined;

  // Several readers may collect at once: they share one scrape.
  const scrape = (): Promise<PoolerSnapshot | undefined> =>
    (inflight ??= consoleWithin(poolerSnapshot(admin), timeoutMs)
      .catch((error: unknown) => {
        try {
          options.onError?.(translateDbError(error));
        } catch {
          // The caller's logger failing must not reach the SDK either.
        }
        return undefined;
      })
      .finally(() => {
        inflight = undefined;
      }));

  const emit = (result: BatchObservableResult, snapshot: PoolerSnapshot | undefined) => {
    result.observe(up, snapshot ? 1 : 0);
    if (!snapshot) return;
    for (const pool of snapshot.pools) {
      const attributes: Attributes = { 'db.namespace': pool.database, user: pool.user };
      for (const [observable, pick] of perPool) result.observe(observable, pick(pool), attributes);
    }
    for (const database of snapshot.databases) {
      const attributes: Attributes = { 'db.namespace': database.database };
      for (const [observable, pick] of perDatabase) result.observe(observable, pick(database), attributes);
    }
  };

  const observe: BatchObservableCallback = async (result) => {
    const snapshot = await scrape();
    tracker.run(result, (tracked) => emit(tracked, snapshot));
  };
  meter.addBatchObservableCallback(observe, observables);
  return {
    close: () => {
      meter.removeBatchObservableCallback(observe, observables);
      tracker.close();
    },
  };
}

function consoleWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  return withTimeout(
    promise,
    ms,
    () =>
      new JeexDbError('QUERY_TIMEOUT', `PgBouncer's admin console did not answer SHOW POOLS / SHOW STATS within ${ms} ms`, {
        hint: 'Check that PgBouncer runs and accepts the admin user; meanwhile only pgbouncer.up = 0 is reported.',
      }),
  );
}
