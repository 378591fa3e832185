import type { PendingQuery, Row, Sql } from 'postgres';

/** WAL archiving, from pg_stat_archiver and the archive status directory. */
export interface ArchiverStats {
  /** WAL files archived since the statistics were reset. */
  archived: number;
  /** Failed attempts to archive a WAL file. */
  failed: number;
  /** Seconds since the last WAL file was archived (absent when none ever was). */
  lastArchivedAgeSeconds?: number;
  /** `.ready` files: WAL segments waiting to be archived (absent without pg_monitor). */
  readyFiles?: number;
}

/** One replication slot, from pg_replication_slots. */
export interface SlotStats {
  name: string;
  /** `physical` or `logical`. */
  type: string;
  active: boolean;
  /** `reserved`, `extended`, `unreserved` or `lost`. */
  walStatus: string;
  /** WAL bytes the slot keeps from being removed (absent before it reserved any). */
  retainedBytes?: number;
  /** Bytes that can still be written before the slot is lost (absent: max_slot_wal_keep_size = -1). */
  safeWalBytes?: number;
}

/** One user table, from pg_stat_user_tables. */
export interface TableStats {
  /** `schema.table`. */
  name: string;
  sizeBytes: number;
  liveRows: number;
  deadRows: number;
  /** Rows inserted, updated, deleted and HOT-updated. */
  operations: { ins: number; upd: number; del: number; hot_upd: number };
  sequentialScans: number;
  /** Manual VACUUMs (the receiver's postgresql.table.vacuum.count). */
  vacuums: number;
}

/** One index of a user table, from pg_stat_user_indexes. */
export interface IndexStats {
  /** `schema.table` of its table. */
  table: string;
  name: string;
  scans: number;
  sizeBytes: number;
}

export interface ServerObjects {
  archiver: ArchiverStats;
  slots: SlotStats[];
  /** User tables in the database (all of them, not only the `tables` reported). */
  tableCount: number;
  /** The largest user tables (by total size), at most `maxTables`. */
  tables: TableStats[];
  /** The largest indexes of user tables, at most `maxTables`. */
  indexes: IndexStats[];
}

const num = (value: unknown): number => {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
};
const optionalNum = (value: unknown): number | undefined => (value === null || value === undefined ? undefined : num(value));

/**
 * Read the archiver, the replication slots and the largest user tables and indexes (four
 * queries, sent together). `maxTables` bounds the per-table and per-index series.
 *
 * @example
 * const { archiver, slots } = await readServerObjects(sql, (q) => q, 100);
 */
export async function readServerObjects(sql: Sql, track: <T extends PendingQuery<Row[]>>(query: T) => T, maxTables: number): Promise<ServerObjects> {
  const [[archiver], slotRows, tableRows, indexRows] = await Promise.all([
    // pg_ls_archive_statusdir() needs pg_monitor (or a superuser): asked only when allowed.
    track(sql`
      SELECT archived_count, failed_count,
             extract(epoch FROM clock_timestamp() - last_archived_time) AS wal_age,
             CASE WHEN has_function_privilege('pg_ls_archive_statusdir()', 'EXECUTE')
                  THEN (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') END AS ready_files
        FROM pg_stat_archiver`),
    track(sql`
      SELECT slot_name, slot_type, active, coalesce(wal_status, 'unknown') AS wal_status, safe_wal_size,
             pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, restart_lsn) AS retained_bytes
        FROM pg_replication_slots`),
    track(sql`
      SELECT count(*) OVER () AS total, t.schemaname || '.' || t.relname AS name, pg_relation_size(t.relid) AS size_bytes,
             t.n_live_tup, t.n_dead_tup, t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.seq_scan, t.vacuum_count
        FROM pg_stat_user_tables t
       ORDER BY pg_total_relation_size(t.relid) DESC, 2
       LIMIT ${maxTables}`),
    track(sql`
      SELECT i.schemaname || '.' || i.relname AS table_name, i.indexrelname AS index_name, i.idx_scan, pg_relation_size(i.indexrelid) AS size_bytes
        FROM pg_stat_user_indexes i
       ORDER BY pg_relation_size(i.indexrelid) DESC, 1, 2
       LIMIT ${maxTables}`),
  ]);
  const age = optionalNum(archiver?.wal_age);
  const ready = optionalNum(archiver?.ready_files);
  return {
    archiver: {
      archived: num(archiver?.archived_count),
      failed: num(archiver?.failed_count),
      ...(age !== undefined && { lastArchivedAgeSeconds: Math.max(0, age) }),
      ...(ready !== undefined && { readyFiles: ready }),
    },
    slots: slotRows.map((row): SlotStats => {
      const retainedBytes = optionalNum(row.retained_bytes);
      const safeWalBytes = optionalNum(row.safe_wal_size);
      return {
        name: String(row.slot_name),
        type: String(row.slot_type),
        active: row.active === true,
        walStatus: String(row.wal_status),
        ...(retainedBytes !== undefined && { retainedBytes: Math.max(0, retainedBytes) }),
        ...(safeWalBytes !== undefined && { safeWalBytes }),
      };
    }),
    tableCount: num(tableRows[0]?.total),
    tables: tableRows.map(
      (row): TableStats => ({
        name: String(row.name),
        sizeBytes: num(row.size_bytes),
        liveRows: num(row.n_live_tup),
        deadRows: num(row.n_dead_tup),
        operations: { ins: num(row.n_tup_ins), upd: num(row.n_tup_upd), del: num(row.n_tup_del), hot_upd: num(row.n_tup_hot_upd) },
        sequentialScans: num(row.seq_scan),
        vacuums: num(row.vacuum_count),
      }),
    ),
    indexes: indexRows.map((row): IndexStats => ({ table: String(row.table_name), name: String(row.index_name), scans: num(row.idx_scan), sizeBytes: num(row.size_bytes) })),
  };
}
