import type { ReservedSql } from 'postgres';

/** The application's tables (src/schema), whose row counts a backup records for verify. */
export const APP_TABLES = ['users', 'projects', 'document_versions', 'agent_executions', 'exports'] as const;

/**
 * Count the rows of each application table that exists in the connected database, in one
 * statement (one snapshot), and return that snapshot (`pg_current_snapshot()`): comparing it
 * with one taken later tells whether any transaction that wrote ended in between.
 */
export async function countRows(conn: ReservedSql): Promise<{ rows: Record<string, number>; snapshot: string }> {
  const present = await conn<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(${[...APP_TABLES]})`;
  const names = APP_TABLES.filter((table) => present.some((row) => row.name === table));
  // The names come from the constant list above, never from input.
  const columns = names.map((table) => `(SELECT count(*) FROM public."${table}")::text AS "${table}"`);
  const [row] = await conn.unsafe<Record<string, string>[]>(`SELECT ${['pg_current_snapshot()::text AS "snapshot"', ...columns].join(', ')}`);
  const rows: Record<string, number> = {};
  for (const table of names) rows[table] = Number(row?.[table] ?? 0);
  return { rows, snapshot: row?.snapshot ?? '' };
}
