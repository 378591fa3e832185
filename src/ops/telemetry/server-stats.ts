import type { PendingQuery, Row, Sql } from 'postgres';
import { readServerObjects, type ServerObjects } from './server-objects.ts';

/** One standby streaming from this server, from pg_stat_replication. */
export interface StandbyStats {
  /** The standby's IP address, or 'unix' for a Unix socket. */
  client: string;
  /**
   * Its application_name (a standby of `jeex-db standby`: its name, the one in
   * synchronous_standby_names): tells apart two standbys on one host, which share `client`.
   */
  name: string;
  /** WAL bytes the standby has not replayed yet (absent on a standby itself or without pg_monitor). */
  replayBytes?: number;
  /** Seconds behind in writing, flushing and replaying recent WAL (absent when idle). */
  lagSeconds: Partial<Record<'write' | 'flush' | 'replay', number>>;
}

/** What the statistics views say right now, for the database the client is connected to and the server. */
export interface ServerStats extends ServerObjects {
  database: string;
  /** Client backends of this database by state (`active`, `idle`, `idle in transaction`, …). */
  backends: Map<string, number>;
  commits: number;
  rollbacks: number;
  deadlocks: number;
  tempFiles: number;
  tempBytes: number;
  /** Blocks of user tables by source: heap_read, heap_hit, idx_read, idx_hit, toast_*, tidx_*. */
  blocks: Record<string, number>;
  sizeBytes: number;
  /** Age of the oldest open transaction of a client backend of this database, 0 when none. */
  maxTransactionAgeSeconds: number;
  maxConnections: number;
  /** Databases that accept connections, templates excluded. */
  databaseCount: number;
  /** From pg_stat_checkpointer (PostgreSQL 17+): num_timed and num_requested. */
  checkpoints: { scheduled: number; requested: number };
  buffersWritten: { checkpoints: number; bgwriter: number };
  buffersAllocated: number;
  standbys: StandbyStats[];
}

const num = (value: unknown): number => {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
};
const optionalNum = (value: unknown): number | undefined => (value === null || value === undefined ? undefined : num(value));

/** User tables (and indexes) reported one by one, the largest first, unless `maxTables` says otherwise. */
export const DEFAULT_MAX_TABLES = 100;

/**
 * Read the server's statistics in seven queries (sent together; each its own statement, so
 * they also work through PgBouncer in transaction mode). `track` gets each query so a caller
 * can cancel them; `maxTables` bounds the per-table and per-index figures.
 *
 * @example
 * const stats = await readServerStats(sql);
 * stats.commits; // xact_commit of the current database
 */
export async function readServerStats(
  sql: Sql,
  track: <T extends PendingQuery<Row[]>>(query: T) => T = (query) => query,
  maxTables: number = DEFAULT_MAX_TABLES,
): Promise<ServerStats> {
  const [[totals], backendRows, standbyRows, objects] = await Promise.all([
    track(sql`
      SELECT current_database() AS database,
             d.xact_commit, d.xact_rollback, d.deadlocks, d.temp_files, d.temp_bytes,
             pg_database_size(current_database()) AS size_bytes,
             s.heap_read, s.heap_hit, s.idx_read, s.idx_hit, s.toast_read, s.toast_hit, s.tidx_read, s.tidx_hit,
             current_setting('max_connections')::int AS max_connections,
             (SELECT count(*) FROM pg_database WHERE datallowconn AND NOT datistemplate) AS database_count,
             c.num_timed, c.num_requested, c.buffers_written AS checkpoint_buffers,
             b.buffers_clean, b.buffers_alloc
        FROM pg_stat_database d
       CROSS JOIN (SELECT coalesce(sum(heap_blks_read), 0) AS heap_read, coalesce(sum(heap_blks_hit), 0) AS heap_hit,
                          coalesce(sum(idx_blks_read), 0) AS idx_read, coalesce(sum(idx_blks_hit), 0) AS idx_hit,
                          coalesce(sum(toast_blks_read), 0) AS toast_read, coalesce(sum(toast_blks_hit), 0) AS toast_hit,
                          coalesce(sum(tidx_blks_read), 0) AS tidx_read, coalesce(sum(tidx_blks_hit), 0) AS tidx_hit
                     FROM pg_statio_user_tables) s
       CROSS JOIN pg_stat_checkpointer c
       CROSS JOIN pg_stat_bgwriter b
       WHERE d.datname = current_database()`),
    // Client backends only: autovacuum and parallel workers are not connections. Our own
    // backend is counted (it is a connection) but its transaction is not the oldest.
    track(sql`
      SELECT coalesce(state, 'unknown') AS state, count(*) AS backends,
             coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)) FILTER (WHERE pid <> pg_backend_pid()), 0) AS max_age
        FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend'
       GROUP BY 1`),
    // pg_current_wal_lsn() fails on a standby: only asked on a primary.
    track(sql`
      SELECT coalesce(host(client_addr), 'unix') AS client, application_name AS name,
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END AS replay_bytes,
             extract(epoch FROM write_lag) AS write_lag, extract(epoch FROM flush_lag) AS flush_lag, extract(epoch FROM replay_lag) AS replay_lag
        FROM pg_stat_replication`),
    readServerObjects(sql, track, maxTables),
  ]);
  if (!totals) throw new Error('pg_stat_database has no row for the current database');

  const backends = new Map<string, number>();
  let maxTransactionAgeSeconds = 0;
  for (const row of backendRows) {
    backends.set(String(row.state), num(row.backends));
    maxTransactionAgeSeconds = Math.max(maxTransactionAgeSeconds, num(row.max_age));
  }
  const blocks: Record<string, number> = {};
  for (const source of ['heap_read', 'heap_hit', 'idx_read', 'idx_hit', 'toast_read', 'toast_hit', 'tidx_read', 'tidx_hit']) {
    blocks[source] = num(totals[source]);
  }
  return {
    ...objects,
    database: String(totals.database),
    backends,
    commits: num(totals.xact_commit),
    rollbacks: num(totals.xact_rollback),
    deadlocks: num(totals.deadlocks),
    tempFiles: num(totals.temp_files),
    tempBytes: num(totals.temp_bytes),
    blocks,
    sizeBytes: num(totals.size_bytes),
    maxTransactionAgeSeconds,
    maxConnections: num(totals.max_connections),
    databaseCount: num(totals.database_count),
    checkpoints: { scheduled: num(totals.num_timed), requested: num(totals.num_requested) },
    buffersWritten: { checkpoints: num(totals.checkpoint_buffers), bgwriter: num(totals.buffers_clean) },
    buffersAllocated: num(totals.buffers_alloc),
    standbys: standbyRows.map((row): StandbyStats => {
      const lagSeconds: StandbyStats['lagSeconds'] = {};
      for (const operation of ['write', 'flush', 'replay'] as const) {
        const seconds = optionalNum(row[`${operation}_lag`]);
        if (seconds !== undefined) lagSeconds[operation] = seconds;
      }
      const replayBytes = optionalNum(row.replay_bytes);
      return { client: String(row.client), name: String(row.name ?? ''), ...(replayBytes !== undefined && { replayBytes }), lagSeconds };
    }),
  };
}
