import type { Sql } from 'postgres';
import type { DiagnoseThresholds, Finding } from './types.ts';

interface TableScanRow {
  table: string;
  schema: string;
  relname: string;
  liveRows: string;
  seqScans: string;
  seqRowsRead: string;
  indexScans: string;
}

/**
 * Tables read mostly by sequential scans although they are large: an index is probably missing.
 * `filters` (from the plans of the slow statements) names the columns the scans filter on, so
 * the fix can be a concrete CREATE INDEX.
 */
export async function missingIndexFindings(sql: Sql, thresholds: DiagnoseThresholds, filters: Map<string, Set<string>>): Promise<Finding[]> {
  const rows = await sql<TableScanRow[]>`
    SELECT format('%I.%I', schemaname, relname) AS table, schemaname AS schema, relname,
           n_live_tup::text AS "liveRows", seq_scan::text AS "seqScans", seq_tup_read::text AS "seqRowsRead",
           coalesce(idx_scan, 0)::text AS "indexScans"
      FROM pg_stat_user_tables
     WHERE n_live_tup >= ${thresholds.seqScanMinRows}
       AND seq_scan >= ${thresholds.seqScanMinScans}
       AND seq_scan > coalesce(idx_scan, 0)
     ORDER BY seq_tup_read DESC`;
  return rows.map((row) => {
    const seqScans = Number(row.seqScans);
    const share = seqScans / (seqScans + Number(row.indexScans));
    const columns = [...(filters.get(`${row.schema}.${row.relname}`) ?? [])];
    const indexName = `${row.relname}_${columns.join('_')}_idx`.slice(0, 63);
    const fix =
      columns.length > 0
        ? `add a migration with \`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${indexName} ON ${row.table} (${columns.join(', ')});\` (the columns its sequential scans filter on, from the plans of the slowest statements; jeex-db runs it outside a transaction), and declare it in src/schema`
        : `find the statements that scan it (\`SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE query ILIKE '%${row.relname}%' ORDER BY total_exec_time DESC\`), then add a migration with \`CREATE INDEX CONCURRENTLY ... ON ${row.table} (<the columns of their WHERE clause>);\``;
    return {
      kind: 'missing-index' as const,
      severity: 'warn' as const,
      subject: row.table,
      detail: `${row.table} (~${Number(row.liveRows).toLocaleString('en')} rows) was scanned sequentially ${seqScans.toLocaleString('en')} times (${(share * 100).toFixed(0)}% of its scans), reading ${Number(row.seqRowsRead).toLocaleString('en')} rows.`,
      fix,
    };
  });
}

/** Share of table and index block reads served from shared_buffers (pg_statio_user_*). */
export async function readCacheHitRatios(sql: Sql): Promise<{ table: number | null; index: number | null; tableBlocks: number; indexBlocks: number }> {
  const [row] = await sql<{ tableHit: string; tableRead: string; indexHit: string; indexRead: string }[]>`
    SELECT (SELECT coalesce(sum(heap_blks_hit), 0) FROM pg_statio_user_tables)::text AS "tableHit",
           (SELECT coalesce(sum(heap_blks_read), 0) FROM pg_statio_user_tables)::text AS "tableRead",
           (SELECT coalesce(sum(idx_blks_hit), 0) FROM pg_statio_user_indexes)::text AS "indexHit",
           (SELECT coalesce(sum(idx_blks_read), 0) FROM pg_statio_user_indexes)::text AS "indexRead"`;
  const ratio = (hit: number, read: number) => (hit + read === 0 ? null : hit / (hit + read));
  const [th, tr, ih, ir] = [row?.tableHit, row?.tableRead, row?.indexHit, row?.indexRead].map(Number) as [number, number, number, number];
  return { table: ratio(th, tr), index: ratio(ih, ir), tableBlocks: th + tr, indexBlocks: ih + ir };
}

export function cacheHitFindings(ratios: Awaited<ReturnType<typeof readCacheHitRatios>>, thresholds: DiagnoseThresholds): Finding[] {
  const findings: Finding[] = [];
  for (const [what, ratio, blocks] of [
    ['table', ratios.table, ratios.tableBlocks],
    ['index', ratios.index, ratios.indexBlocks],
  ] as const) {
    if (ratio === null || blocks < thresholds.cacheMinBlocks || ratio >= thresholds.cacheHitRatioWarn) continue;
    findings.push({
      kind: 'cache-hit-ratio',
      severity: 'warn',
      subject: `${what} cache hit ratio`,
      detail: `${(ratio * 100).toFixed(2)}% of ${what} block reads came from shared_buffers (of ${blocks.toLocaleString('en')}); below ${(thresholds.cacheHitRatioWarn * 100).toFixed(0)}% most reads wait for the disk or the OS cache.`,
      fix: `find the statements reading the most blocks (\`SELECT query, shared_blks_read FROM pg_stat_statements ORDER BY shared_blks_read DESC LIMIT 10\`) and index them; if the working set simply exceeds memory, give the server more RAM (shared_buffers is 25% of it: \`jeex-db config --explain\`)`,
    });
  }
  return findings;
}
