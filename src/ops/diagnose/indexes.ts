import type { Sql } from 'postgres';
import { findDuplicateIndexes, type IndexInfo } from './duplicate-indexes.ts';
import { formatBytes, type DiagnoseThresholds, type Finding } from './types.ts';

interface IndexRow extends IndexInfo {
  scans: number;
  /** A CREATE INDEX CONCURRENTLY is building it right now. */
  building: boolean;
}

/** Every index on a user table of the current database, with what the checks need. */
export async function readIndexes(sql: Sql): Promise<IndexRow[]> {
  const rows = await sql<(Omit<IndexRow, 'oid' | 'opclasses' | 'collations' | 'options' | 'bytes' | 'scans'> & { oid: string; opclasses: string; collations: string; options: string; bytes: string; scans: string })[]>`
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.oid::int8::text AS oid,
           format('%I.%I', n.nspname, t.relname) AS table,
           am.amname AS method,
           ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) AS k ORDER BY k) AS columns,
           i.indnkeyatts AS "keyCount",
           i.indclass::text AS opclasses, i.indcollation::text AS collations, i.indoption::text AS options,
           pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
           i.indisunique AS unique, i.indisprimary AS primary,
           EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid) AS "backsConstraint",
           i.indisvalid AS valid,
           pg_relation_size(i.indexrelid)::text AS bytes,
           coalesce(s.idx_scan, 0)::text AS scans,
           pg_get_indexdef(i.indexrelid) AS definition,
           EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS building
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_am am ON am.oid = c.relam
      LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
     ORDER BY 1`;
  const split = (vector: string) => (vector.trim() === '' ? [] : vector.trim().split(/\s+/));
  return rows.map((row) => ({
    ...row,
    oid: Number(row.oid),
    opclasses: split(row.opclasses),
    collations: split(row.collations),
    options: split(row.options),
    bytes: Number(row.bytes),
    scans: Number(row.scans),
  }));
}

/** `CREATE INDEX ...` as `CREATE INDEX CONCURRENTLY ...`. */
export function concurrently(definition: string): string {
  return definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ');
}

/** Invalid indexes (a failed or interrupted CREATE INDEX CONCURRENTLY): never used, still written. */
export function invalidIndexFindings(indexes: readonly IndexRow[]): Finding[] {
  return indexes
    .filter((index) => !index.valid && !index.building)
    .map((index) => ({
      kind: 'invalid-index' as const,
      severity: index.unique ? ('critical' as const) : ('warn' as const),
      subject: index.name,
      detail: `${index.name} on ${index.table} is INVALID (a CREATE INDEX CONCURRENTLY failed or was interrupted): queries never use it, yet every write still updates it${index.unique ? '; its uniqueness is NOT enforced' : ''}. ${formatBytes(index.bytes)}.`,
      fix: `DROP INDEX CONCURRENTLY IF EXISTS ${index.name};${index.unique ? ' remove the duplicate rows that made it fail, then' : ' then, if it is still wanted,'} ${concurrently(index.definition)};`,
    }));
}

/** Indexes no scan has used since the statistics were reset, that no constraint needs. */
export function unusedIndexFindings(indexes: readonly IndexRow[], thresholds: DiagnoseThresholds, statsReset: string | null): Finding[] {
  const since = statsReset ? `since the statistics were reset (${statsReset})` : 'since the statistics began';
  return indexes
    .filter((index) => index.valid && index.scans === 0 && !index.unique && !index.primary && !index.backsConstraint && index.bytes >= thresholds.unusedIndexMinBytes)
    .map((index) => ({
      kind: 'unused-index' as const,
      severity: 'info' as const,
      subject: index.name,
      detail: `${index.name} on ${index.table} (${formatBytes(index.bytes)}) has not been scanned ${since}; every insert and update still maintains it. Check replicas and rare jobs (month-end reports) before dropping.`,
      fix: `add a migration with \`DROP INDEX CONCURRENTLY IF EXISTS ${index.name};\` and remove it from src/schema (recreate with: ${concurrently(index.definition)};)`,
    }));
}

export function duplicateIndexFindings(indexes: readonly IndexRow[]): Finding[] {
  return findDuplicateIndexes(indexes).map(({ redundant, coveredBy, reason }) => ({
    kind: 'duplicate-index' as const,
    severity: 'warn' as const,
    subject: redundant.name,
    detail:
      reason === 'identical'
        ? `${redundant.name} is identical to ${coveredBy.name} (${coveredBy.definition}); ${formatBytes(redundant.bytes)} written twice on every change.`
        : `${redundant.name} (${redundant.columns.slice(0, redundant.keyCount).join(', ')}) is a leading prefix of ${coveredBy.name} (${coveredBy.columns.slice(0, coveredBy.keyCount).join(', ')}), which serves the same lookups; ${formatBytes(redundant.bytes)}.`,
    fix: `add a migration with \`DROP INDEX CONCURRENTLY IF EXISTS ${redundant.name};\` and remove it from src/schema (${coveredBy.name} stays)`,
  }));
}
