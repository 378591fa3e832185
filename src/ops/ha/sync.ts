import type { Sql } from 'postgres';
import { ident } from '../roles/names.ts';

/**
 * synchronous_standby_names for a quorum of `names`: `ANY 1 (a, b)`: a commit returns once one of
 * them has flushed it (no acknowledged row is lost when the primary dies), at the price of a round
 * trip per commit, and EVERY commit waits while none of them is connected. Empty: asynchronous.
 *
 * @example
 * quorumStandbyNames(['standby_5419']); // 'ANY 1 ("standby_5419")'
 */
export function quorumStandbyNames(names: readonly string[], required = 1): string {
  if (names.length === 0) return '';
  return `ANY ${Math.min(required, names.length)} (${names.map(ident).join(', ')})`;
}

/**
 * Set the primary's synchronous standbys (ALTER SYSTEM: postgresql.auto.conf, which `up` never
 * rewrites; a reload applies it to running sessions). Returns what it was before.
 */
export async function setSynchronousStandbys(sql: Sql, names: readonly string[]): Promise<{ before: string; after: string }> {
  const [row] = await sql<{ value: string }[]>`SELECT current_setting('synchronous_standby_names') AS value`;
  const after = quorumStandbyNames(names);
  await sql.unsafe(`ALTER SYSTEM SET synchronous_standby_names = '${after.replaceAll("'", "''")}'`);
  await sql`SELECT pg_reload_conf()`;
  return { before: row?.value ?? '', after };
}
