import type { Sql, TransactionSql } from 'postgres';

/** One row of pg_stat_archiver. */
export interface ArchiverRow {
  archivedCount: number;
  failedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: Date | null;
  lastFailedWal: string | null;
  lastFailedTime: Date | null;
}

/**
 * WAL archiving is failing when the last attempt failed: a failure newer than the last success
 * (or a failure and no success at all). Older failures that a later success followed are history.
 */
export function archiveFailing(row: ArchiverRow): boolean {
  if (!row.lastFailedTime) return false;
  return !row.lastArchivedTime || row.lastFailedTime.getTime() > row.lastArchivedTime.getTime();
}

/** The archiver's counters and last WAL names and times (pg_stat_archiver). */
export async function archiverStats(tx: Sql | TransactionSql): Promise<ArchiverRow> {
  const [row] = await tx<
    { archived_count: number; failed_count: number; last_archived_wal: string | null; last_archived_time: Date | null; last_failed_wal: string | null; last_failed_time: Date | null }[]
  >`SELECT archived_count::float8 AS archived_count, failed_count::float8 AS failed_count, last_archived_wal, last_archived_time, last_failed_wal, last_failed_time
    FROM pg_stat_archiver`;
  return {
    archivedCount: row?.archived_count ?? 0,
    failedCount: row?.failed_count ?? 0,
    lastArchivedWal: row?.last_archived_wal ?? null,
    lastArchivedTime: row?.last_archived_time ?? null,
    lastFailedWal: row?.last_failed_wal ?? null,
    lastFailedTime: row?.last_failed_time ?? null,
  };
}
