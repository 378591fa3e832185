import type { Sql } from 'postgres';
import { ident } from '../roles/names.ts';
import { synchronousRule } from './synchronous-names.ts';

/**
 * synchronous_standby_names for a quorum of `names`: `ANY 1 (a, b)`: a commit returns once one of
 * them has flushed it (no acknowledged row is lost when the primary dies), at the price of a round
 * trip per commit, and EVERY commit waits while none of them is connected. Empty: asynchronous.
 *
 * @example
 * quorumStandbyNames(['standby_5419']); // 'ANY 1 ("standby_5419")'
 */
export function quorumStandbyNames(names: readonly string[], required = 1, method: 'any' | 'first' = 'any'): string {
  if (names.length === 0) return '';
  return `${method.toUpperCase()} ${Math.min(required, names.length)} (${names.map(ident).join(', ')})`;
}

/**
 * Add `name` to the primary's synchronous standbys (ALTER SYSTEM: postgresql.auto.conf, which
 * `up` never rewrites; a reload applies it to running sessions): a quorum of one when there were
 * none, else the rule as it was (method and count) with one more name. Returns the setting
 * before and after.
 *
 * @example
 * await addSynchronousStandby(primarySql, 'standby_5419'); // { before: '', after: 'ANY 1 ("standby_5419")' }
 */
export async function addSynchronousStandby(sql: Sql, name: string): Promise<{ before: string; after: string }> {
  const [row] = await sql<{ value: string }[]>`SELECT current_setting('synchronous_standby_names') AS value`;
  const before = row?.value ?? '';
  const rule = synchronousRule(before);
  const after = rule ? quorumStandbyNames([...new Set([...rule.names, name])], rule.count, rule.method) : quorumStandbyNames([name]);
  await sql.unsafe(`ALTER SYSTEM SET synchronous_standby_names = '${after.replaceAll("'", "''")}'`);
  await sql`SELECT pg_reload_conf()`;
  return { before, after };
}
