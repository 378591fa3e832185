import type { Sql } from 'postgres';
import type { Finding } from './types.ts';

/**
 * Checks whose catalog views hide rows from the connected role, instead of refusing it: a
 * `check-unavailable` finding (severity warn: the report is incomplete) for each, naming the
 * check, the role and the privilege it lacks, so a check never passes by absence.
 * - sequences: pg_sequences.last_value is NULL without USAGE or SELECT on the sequence, which
 *   pg_monitor does not grant;
 * - bloat estimate: pg_stats shows only the columns the role may SELECT.
 *
 * @example
 * const hidden = await hiddenRowFindings(sql); // [{ kind: 'check-unavailable', subject: 'sequences', ... }]
 */
export async function hiddenRowFindings(sql: Sql): Promise<Finding[]> {
  const [row] = await sql<{ role: string; sequences: number; hiddenSequences: number; examples: string[] | null; tables: number; hiddenTables: number; tableExamples: string[] | null }[]>`
    WITH seqs AS (
      SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name,
             has_sequence_privilege(c.oid, 'SELECT') OR has_sequence_privilege(c.oid, 'USAGE') AS visible
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
    ), tabs AS (
      SELECT format('%I.%I', n.nspname, c.relname) AS name, has_table_privilege(c.oid, 'SELECT') AS visible
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
    )
    SELECT current_user AS role,
           (SELECT count(*)::int FROM seqs) AS sequences,
           (SELECT count(*)::int FROM seqs WHERE NOT visible) AS "hiddenSequences",
           (SELECT array_agg(name ORDER BY name) FROM (SELECT name FROM seqs WHERE NOT visible ORDER BY name LIMIT 3) s) AS examples,
           (SELECT count(*)::int FROM tabs) AS tables,
           (SELECT count(*)::int FROM tabs WHERE NOT visible) AS "hiddenTables",
           (SELECT array_agg(name ORDER BY name) FROM (SELECT name FROM tabs WHERE NOT visible ORDER BY name LIMIT 3) t) AS "tableExamples"`;
  if (!row) return [];
  const findings: Finding[] = [];
  const some = (names: string[] | null, count: number) => `${(names ?? []).join(', ')}${count > (names?.length ?? 0) ? `, and ${count - (names?.length ?? 0)} more` : ''}`;
  if (row.hiddenSequences > 0) {
    findings.push({
      kind: 'check-unavailable',
      severity: 'warn',
      subject: 'sequences',
      detail: `role ${row.role} cannot see ${row.hiddenSequences} of ${row.sequences} sequence(s) (${some(row.examples, row.hiddenSequences)}): pg_sequences.last_value is NULL without USAGE or SELECT on a sequence (pg_monitor does not grant it), so how near they are to their limit is not known.`,
      fix: `run \`jeex-db diagnose\` as a superuser (locally the default), or grant the role SELECT on the sequences (\`GRANT SELECT ON ALL SEQUENCES IN SCHEMA <schema> TO ${row.role};\`)`,
    });
  }
  if (row.hiddenTables > 0) {
    findings.push({
      kind: 'check-unavailable',
      severity: 'warn',
      subject: 'bloat estimate',
      detail: `role ${row.role} cannot see the statistics of ${row.hiddenTables} of ${row.tables} table(s) (${some(row.tableExamples, row.hiddenTables)}): pg_stats shows only columns the role may SELECT, so their bloat is not estimated.`,
      fix: `run \`jeex-db diagnose\` as a superuser (locally the default), or grant the role SELECT on the tables (\`GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO ${row.role};\`, e.g. the readonly role's grants)`,
    });
  }
  return findings;
}
