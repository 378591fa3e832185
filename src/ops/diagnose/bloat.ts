import type { Sql } from 'postgres';
import { formatBytes, type DiagnoseThresholds, type Finding } from './types.ts';

interface BloatRow {
  name: string;
  table: string;
  bytes: string;
  expectedBytes: string;
}

/**
 * ESTIMATED bloat of tables and btree indexes: their size against the size their rows would
 * take packed at their fillfactor, from planner statistics (reltuples, pg_stats.avg_width and
 * null_frac) and PostgreSQL's page layout (24-byte page header, 4-byte line pointer, 23-byte
 * tuple header aligned to 8; btree: 16-byte special space, 8-byte index tuple header). It
 * ignores TOAST, alignment padding between columns and the btree's upper levels, so it is a
 * hint to look closer (pgstattuple measures), not a measurement; stale statistics (no ANALYZE)
 * skew it. Expression-only index columns have no statistics and are left out.
 */
export async function readBloat(sql: Sql, thresholds: DiagnoseThresholds): Promise<{ tables: BloatRow[]; indexes: BloatRow[] }> {
  const tables = await sql<BloatRow[]>`
    WITH widths AS (
      SELECT schemaname, tablename, sum((1 - null_frac) * avg_width) AS data_width, bool_or(null_frac > 0) AS has_nulls, count(*) AS ncols
        FROM pg_stats GROUP BY schemaname, tablename
    )
    SELECT format('%I.%I', n.nspname, c.relname) AS name, format('%I.%I', n.nspname, c.relname) AS table,
           pg_relation_size(c.oid)::text AS bytes,
           (ceil(c.reltuples * (4 + ceil((23 + CASE WHEN w.has_nulls THEN ceil(w.ncols / 8.0) ELSE 0 END) / 8.0) * 8 + ceil(w.data_width / 8.0) * 8)
                 / ((current_setting('block_size')::int - 24) * coalesce((SELECT option_value::int FROM pg_options_to_table(c.reloptions) WHERE option_name = 'fillfactor'), 100) / 100.0))
             * current_setting('block_size')::int)::bigint::text AS "expectedBytes"
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN widths w ON w.schemaname = n.nspname AND w.tablename = c.relname
     WHERE c.relkind IN ('r', 'm') AND c.reltuples >= 0
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND pg_relation_size(c.oid) >= ${thresholds.bloatMinBytes}`;
  const indexes = await sql<BloatRow[]>`
    WITH cols AS (
      SELECT i.indexrelid, i.indrelid, k.attnum, k.ord
        FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       WHERE k.ord <= i.indnatts
    ), widths AS (
      SELECT cols.indexrelid, sum((1 - s.null_frac) * s.avg_width) AS data_width, bool_and(cols.attnum > 0 AND s.avg_width IS NOT NULL) AS complete
        FROM cols
        JOIN pg_class t ON t.oid = cols.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = cols.indrelid AND a.attnum = cols.attnum
        LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
       GROUP BY cols.indexrelid
    )
    SELECT format('%I.%I', n.nspname, c.relname) AS name, format('%I.%I', n.nspname, t.relname) AS table,
           pg_relation_size(c.oid)::text AS bytes,
           (ceil(c.reltuples * (4 + 8 + ceil(w.data_width / 8.0) * 8)
                 / ((current_setting('block_size')::int - 24 - 16) * coalesce((SELECT option_value::int FROM pg_options_to_table(c.reloptions) WHERE option_name = 'fillfactor'), 90) / 100.0))
             * current_setting('block_size')::int)::bigint::text AS "expectedBytes"
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
      JOIN widths w ON w.indexrelid = i.indexrelid AND w.complete
     WHERE c.reltuples >= 0 AND i.indisvalid
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND pg_relation_size(c.oid) >= ${thresholds.bloatMinBytes}`;
  return { tables, indexes };
}

export function bloatFindings(bloat: Awaited<ReturnType<typeof readBloat>>, thresholds: DiagnoseThresholds): Finding[] {
  const findings: Finding[] = [];
  for (const [kind, rows] of [
    ['table-bloat', bloat.tables],
    ['index-bloat', bloat.indexes],
  ] as const) {
    for (const row of rows) {
      const bytes = Number(row.bytes);
      const waste = Math.max(0, bytes - Number(row.expectedBytes));
      if (bytes === 0 || waste / bytes < thresholds.bloatMinRatio) continue;
      findings.push({
        kind,
        severity: 'warn',
        subject: row.name,
        detail: `estimate: ${row.name} takes ${formatBytes(bytes)}, about ${formatBytes(waste)} (${((waste / bytes) * 100).toFixed(0)}%) of it empty space (dead rows, page splits). Confirm with pgstattuple before acting.`,
        fix:
          kind === 'table-bloat'
            ? `\`VACUUM (ANALYZE, VERBOSE) ${row.name};\` makes the space reusable; to give it back without blocking writes use pg_repack (\`pg_repack --table ${row.name}\`); VACUUM FULL also works but locks out reads and writes while it copies the table`
            : `\`REINDEX INDEX CONCURRENTLY ${row.name};\` (rebuilds it without blocking writes; needs room for a second copy meanwhile)`,
      });
    }
  }
  return findings;
}
