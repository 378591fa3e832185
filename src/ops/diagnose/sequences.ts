import type { Sql } from 'postgres';
import type { DiagnoseThresholds, Finding } from './types.ts';

interface SequenceRow {
  sequence: string;
  column: string | null;
  columnType: string | null;
  lastValue: string;
  limit: string;
  used: number;
}

/**
 * Sequences (serial and identity columns included) that have used up much of their range. The
 * limit is the sequence's own max (min for descending ones) or, when it feeds a column, that
 * column type's range if smaller: a bigint sequence behind an integer column fails at 2^31.
 */
export async function sequenceFindings(sql: Sql, thresholds: DiagnoseThresholds): Promise<Finding[]> {
  const rows = await sql<SequenceRow[]>`
    WITH seqs AS (
      SELECT format('%I.%I', s.schemaname, s.sequencename) AS sequence, s.last_value, s.increment_by, s.cycle,
             CASE WHEN s.increment_by > 0 THEN s.max_value ELSE s.min_value END AS seq_limit,
             col.qualified AS column_name, col.type AS column_type
        FROM pg_sequences s
        LEFT JOIN LATERAL (
          SELECT format('%I.%I.%I', tn.nspname, t.relname, a.attname) AS qualified, a.atttypid::regtype::text AS type
            FROM pg_depend d
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass AND d.deptype IN ('a', 'i')
           LIMIT 1
        ) col ON true
       WHERE s.last_value IS NOT NULL AND NOT s.cycle
    ), limited AS (
      SELECT *, CASE WHEN increment_by > 0
                     THEN least(seq_limit::numeric, CASE column_type WHEN 'smallint' THEN 32767 WHEN 'integer' THEN 2147483647 ELSE seq_limit::numeric END)
                     ELSE greatest(seq_limit::numeric, CASE column_type WHEN 'smallint' THEN -32768 WHEN 'integer' THEN -2147483648 ELSE seq_limit::numeric END)
                END AS effective_limit
        FROM seqs
    )
    SELECT sequence, column_name AS column, column_type AS "columnType", last_value::text AS "lastValue", effective_limit::text AS limit,
           (last_value::numeric / effective_limit)::float8 AS used
      FROM limited
     WHERE effective_limit <> 0 AND last_value::numeric / effective_limit >= ${thresholds.sequenceWarnRatio}
     ORDER BY used DESC`;
  return rows.map((row) => {
    const bigintColumn = row.column && row.columnType && row.columnType !== 'bigint';
    const [schema, table, column] = (row.column ?? '').split('.');
    return {
      kind: 'sequence-limit' as const,
      severity: row.used >= thresholds.sequenceCriticalRatio ? ('critical' as const) : ('warn' as const),
      subject: row.sequence,
      detail: `${row.sequence}${row.column ? ` (feeds ${row.column}, ${row.columnType})` : ''} is at ${row.lastValue} of ${row.limit} (${(row.used * 100).toFixed(1)}%); inserts fail when it runs out.`,
      fix: bigintColumn
        ? `add a migration with \`ALTER TABLE ${schema}.${table} ALTER COLUMN ${column} TYPE bigint;\` and \`ALTER SEQUENCE ${row.sequence} AS bigint;\` (the ALTER TABLE rewrites the table under an exclusive lock: on a large table add a bigint column, backfill it in batches and swap), and make the column bigint in src/schema`
        : row.limit.replace('-', '') === '9223372036854775807' || row.limit === '9223372036854775808'
          ? `it is a bigint sequence: check that nothing (a bulk \`setval\`, a large INCREMENT) is burning values, and plan a new key (uuid) for ${row.column ?? row.sequence}`
          : `add a migration with \`ALTER SEQUENCE ${row.sequence} AS bigint MAXVALUE 9223372036854775807;\``,
    };
  });
}
