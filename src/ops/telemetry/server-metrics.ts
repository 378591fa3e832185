import type { Attributes, BatchObservableCallback, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { PendingQuery, Row, Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { SeriesTracker } from '../../db/fresh-series.ts';
import { DEFAULT_MAX_TABLES, readServerStats, type ServerStats } from './server-stats.ts';
import { withTimeout } from '../../core/timeout.ts';

export interface ServerMetricsOptions {
  /** Milliseconds the statistics queries may take per collection; then nothing is recorded. Default 2000. */
  timeoutMs?: number;
  /** Told about a failed or timed-out collection (counted in `jeex_db.server_metrics.errors` too). */
  onError?: (error: JeexDbError) => void;
  /** Added to every data point, e.g. `{ 'server.address': 'db-1' }`. */
  attributes?: Attributes;
  /** User tables (and indexes) reported one by one, the largest first. Default 100. */
  maxTables?: number;
}

export interface ServerMetrics {
  /** Stop reporting (the sql client is the caller's to end). */
  close(): void;
}

/** Client backend states PostgreSQL reports; each is observed (0 when absent) so series do not vanish. */
const STATES = ['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)'] as const;

/**
 * Report the PostgreSQL server's statistics as OpenTelemetry metrics, read when the SDK
 * collects: one batch callback runs seven catalog queries together (bounded by `timeoutMs`) for
 * all instruments. Names follow the OpenTelemetry Collector's postgresqlreceiver
 * (`postgresql.commits`, `postgresql.db_size`, …) where it has one, `jeex_db.*` where it has
 * none (archiver, replication slots); docs/monitoring.md lists them with units, attributes and
 * Prometheus names. Every point carries `db.system.name` = 'postgresql'; per-database ones also
 * `db.namespace` = the database `sql` is connected to; per-table ones `postgresql.table.name`
 * (`schema.table`, the `maxTables` largest user tables). `postgresql.up` is 1 when the last read
 * worked, else 0. A failed or slow collection records only that (the other series are not
 * exported until a read works again: no stale values), adds one to
 * `jeex_db.server_metrics.errors` and never throws into the SDK.
 *
 * `sql` should connect as a role with `pg_monitor` (or a superuser): without it PostgreSQL hides
 * other roles' sessions (state, transaction start) and the replication figures.
 *
 * @example
 * const telemetry = await startTelemetry();
 * const monitor = postgres(monitorUrl, { max: 1 });
 * const serverMetrics = registerServerMetrics(telemetry.meter, monitor, { onError: (e) => log.warn(e.message) });
 * // on shutdown:
 * serverMetrics.close(); await monitor.end(); await telemetry.shutdown();
 */
export function registerServerMetrics(meter: Meter, sql: Sql, options: ServerMetricsOptions = {}): ServerMetrics {
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxTables = options.maxTables ?? DEFAULT_MAX_TABLES;
  const base: Attributes = { ...options.attributes, 'db.system.name': 'postgresql' };
  const names: [Observable, string][] = [];
  const named = <T extends Observable>(name: string, observable: T): T => {
    names.push([observable, name]);
    return observable;
  };
  const counter = (name: string, unit: string, description: string) => named(name, meter.createObservableCounter(name, { unit, description }));
  const upDown = (name: string, unit: string, description: string) => named(name, meter.createObservableUpDownCounter(name, { unit, description }));
  const gauge = (name: string, unit: string, description: string) => named(name, meter.createObservableGauge(name, { unit, description }));

  const i = {
    backends: upDown('postgresql.backends', '{connection}', 'Client connections to the database, by state'),
    commits: counter('postgresql.commits', '{commit}', 'Transactions committed in the database'),
    rollbacks: counter('postgresql.rollbacks', '{rollback}', 'Transactions rolled back in the database'),
    deadlocks: counter('postgresql.deadlocks', '{deadlock}', 'Deadlocks detected in the database'),
    tempFiles: counter('postgresql.temp_files', '{file}', 'Temporary files created by queries in the database'),
    tempIo: counter('postgresql.temp.io', 'By', 'Data written to temporary files by queries in the database'),
    blocks: counter('postgresql.blocks_read', '{block}', 'Blocks of user tables read from disk (_read) or found in shared buffers (_hit)'),
    dbSize: upDown('postgresql.db_size', 'By', 'Disk space the database uses'),
    maxAge: gauge('postgresql.transaction.max_age', 's', 'Age of the oldest open transaction in the database (0 when none)'),
    connectionMax: gauge('postgresql.connection.max', '{connection}', 'max_connections of the server'),
    databases: upDown('postgresql.database.count', '{database}', 'Databases that accept connections, templates excluded'),
    checkpoints: counter('postgresql.bgwriter.checkpoint.count', '{checkpoint}', 'Checkpoints performed, by type (scheduled or requested)'),
    buffersWritten: counter('postgresql.bgwriter.buffers.writes', '{buffer}', 'Buffers written, by source (checkpoints or bgwriter)'),
    buffersAllocated: counter('postgresql.bgwriter.buffers.allocated', '{buffer}', 'Buffers allocated'),
    dataDelay: gauge('postgresql.replication.data_delay', 'By', 'WAL not yet replayed by each standby'),
    walLag: gauge('postgresql.wal.lag', 's', 'Time until a standby wrote, flushed or replayed recent WAL, by operation'),
    walDelay: gauge('postgresql.wal.delay', 's', 'Time until a standby wrote, flushed or replayed recent WAL, by operation (the receiver\'s newer name of postgresql.wal.lag)'),
    walAge: gauge('postgresql.wal.age', 's', 'Time since the last WAL file was archived (absent when none was)'),
    up: gauge('postgresql.up', '', '1 when the last read of the statistics worked, else 0'),
    tableCount: upDown('postgresql.table.count', '{table}', 'User tables in the database'),
    tableSize: upDown('postgresql.table.size', 'By', 'Disk space of each of the largest user tables (main fork)'),
    rows: upDown('postgresql.rows', '{row}', 'Live and dead rows of each of the largest user tables, by state'),
    operations: counter('postgresql.operations', '{operation}', 'Rows inserted, updated, deleted and HOT-updated in each of the largest user tables, by operation'),
    sequentialScans: counter('postgresql.sequential_scans', '{sequential_scan}', 'Sequential scans of each of the largest user tables'),
    vacuums: counter('postgresql.table.vacuum.count', '{vacuum}', 'Manual VACUUMs of each of the largest user tables'),
    indexScans: counter('postgresql.index.scans', '{scan}', 'Scans of each of the largest indexes of user tables'),
    indexSize: gauge('postgresql.index.size', 'By', 'Disk space of each of the largest indexes of user tables'),
    archived: counter('jeex_db.archiver.archived', '{file}', 'WAL files archived (pg_stat_archiver.archived_count)'),
    archiveFailed: counter('jeex_db.archiver.failed', '{file}', 'Failed attempts to archive a WAL file (pg_stat_archiver.failed_count)'),
    archiveReady: gauge('jeex_db.archiver.ready', '{file}', 'WAL files waiting to be archived (.ready files in pg_wal/archive_status)'),
    slotRetained: gauge('jeex_db.replication_slot.retained_wal', 'By', 'WAL a replication slot keeps from being removed'),
    slotSafe: gauge('jeex_db.replication_slot.safe_wal_size', 'By', 'WAL that can still be written before a replication slot is lost (absent without max_slot_wal_keep_size)'),
    slotActive: gauge('jeex_db.replication_slot.active', '', '1 when a consumer is connected to the replication slot, else 0'),
    errors: counter('jeex_db.server_metrics.errors', '{error}', 'Collections of the server statistics that failed or timed out'),
  };
  const observables: Observable[] = Object.values(i);
  const tracker = new SeriesTracker(names);

  const errorCounts = new Map<string, number>();
  let inflight: Promise<ServerStats | undefined> | undefined;

  // Several readers (OTLP, Prometheus) may collect at once: they share one read.
  const scrape = (): Promise<ServerStats | undefined> =>
    (inflight ??= readWithin(sql, timeoutMs, maxTables)
      .catch((error: unknown) => {
        const translated = error instanceof JeexDbError ? error : translateDbError(error);
        errorCounts.set(translated.code, (errorCounts.get(translated.code) ?? 0) + 1);
        try {
          options.onError?.(translated);
        } catch {
          // The caller's logger failing must not reach the SDK either.
        }
        return undefined;
      })
      .finally(() => {
        inflight = undefined;
      }));

  const emit = (result: BatchObservableResult, stats: ServerStats | undefined) => {
    for (const [code, count] of errorCounts) result.observe(i.errors, count, { ...base, 'error.type': code });
    result.observe(i.up, stats ? 1 : 0, base);
    if (!stats) return;
    const db: Attributes = { ...base, 'db.namespace': stats.database };
    for (const state of new Set<string>([...STATES, ...stats.backends.keys()])) {
      result.observe(i.backends, stats.backends.get(state) ?? 0, { ...db, state });
    }
    result.observe(i.commits, stats.commits, db);
    result.observe(i.rollbacks, stats.rollbacks, db);
    result.observe(i.deadlocks, stats.deadlocks, db);
    result.observe(i.tempFiles, stats.tempFiles, db);
    result.observe(i.tempIo, stats.tempBytes, db);
    for (const [source, blocks] of Object.entries(stats.blocks)) result.observe(i.blocks, blocks, { ...db, source });
    result.observe(i.dbSize, stats.sizeBytes, db);
    result.observe(i.maxAge, stats.maxTransactionAgeSeconds, db);
    result.observe(i.connectionMax, stats.maxConnections, base);
    result.observe(i.databases, stats.databaseCount, base);
    result.observe(i.checkpoints, stats.checkpoints.scheduled, { ...base, type: 'scheduled' });
    result.observe(i.checkpoints, stats.checkpoints.requested, { ...base, type: 'requested' });
    result.observe(i.buffersWritten, stats.buffersWritten.checkpoints, { ...base, source: 'checkpoints' });
    result.observe(i.buffersWritten, stats.buffersWritten.bgwriter, { ...base, source: 'bgwriter' });
    result.observe(i.buffersAllocated, stats.buffersAllocated, base);
    for (const standby of stats.standbys) {
      const client = { ...base, replication_client: standby.client, application_name: standby.name };
      if (standby.replayBytes !== undefined) result.observe(i.dataDelay, standby.replayBytes, client);
      for (const [operation, seconds] of Object.entries(standby.lagSeconds)) {
        result.observe(i.walLag, seconds, { ...client, operation });
        result.observe(i.walDelay, seconds, { ...client, operation });
      }
    }
    emitObjects(result, stats, db);
  };

  const emitObjects = (result: BatchObservableResult, stats: ServerStats, db: Attributes) => {
    const { archiver } = stats;
    result.observe(i.archived, archiver.archived, base);
    result.observe(i.archiveFailed, archiver.failed, base);
    if (archiver.lastArchivedAgeSeconds !== undefined) result.observe(i.walAge, archiver.lastArchivedAgeSeconds, base);
    if (archiver.readyFiles !== undefined) result.observe(i.archiveReady, archiver.readyFiles, base);
    for (const slot of stats.slots) {
      const attributes = { ...base, slot_name: slot.name, slot_type: slot.type };
      result.observe(i.slotActive, slot.active ? 1 : 0, attributes);
      if (slot.retainedBytes !== undefined) result.observe(i.slotRetained, slot.retainedBytes, attributes);
      if (slot.safeWalBytes !== undefined) result.observe(i.slotSafe, slot.safeWalBytes, attributes);
    }
    result.observe(i.tableCount, stats.tableCount, db);
    for (const table of stats.tables) {
      const attributes = { ...db, 'postgresql.table.name': table.name };
      result.observe(i.tableSize, table.sizeBytes, attributes);
      result.observe(i.rows, table.liveRows, { ...attributes, state: 'live' });
      result.observe(i.rows, table.deadRows, { ...attributes, state: 'dead' });
      for (const [operation, rows] of Object.entries(table.operations)) result.observe(i.operations, rows, { ...attributes, operation });
      result.observe(i.sequentialScans, table.sequentialScans, attributes);
      result.observe(i.vacuums, table.vacuums, attributes);
    }
    for (const index of stats.indexes) {
      const attributes = { ...db, 'postgresql.table.name': index.table, 'postgresql.index.name': index.name };
      result.observe(i.indexScans, index.scans, attributes);
      result.observe(i.indexSize, index.sizeBytes, attributes);
    }
  };

  const observe: BatchObservableCallback = async (result) => {
    const stats = await scrape();
    tracker.run(result, (tracked) => emit(tracked, stats));
  };
  meter.addBatchObservableCallback(observe, observables);
  return {
    close: () => {
      meter.removeBatchObservableCallback(observe, observables);
      tracker.close();
    },
  };
}

/** Read the statistics, cancelling the queries still running after `ms`. */
function readWithin(sql: Sql, ms: number, maxTables: number): Promise<ServerStats> {
  const running: PendingQuery<Row[]>[] = [];
  const track = <T extends PendingQuery<Row[]>>(query: T): T => {
    running.push(query);
    return query;
  };
  return withTimeout(readServerStats(sql, track, maxTables), ms, () => {
    for (const query of running) void Promise.resolve(query.cancel?.()).catch(() => undefined);
    return new JeexDbError('QUERY_TIMEOUT', `PostgreSQL's statistics views did not answer within ${ms} ms; no server metrics were recorded this time`, {
      hint: 'Check that the server is up and the monitoring connection is not queued behind a busy pool; raise timeoutMs if the server is just slow.',
    });
  });
}
