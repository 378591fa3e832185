import type { Sql } from 'postgres';
import { ident } from './names.ts';

/** One thing `roles apply` changed, for its report. */
export interface RoleChange {
  /** e.g. `role jeex_app`, `database jeex`, `table public.users`. */
  object: string;
  /** e.g. `created`, `granted SELECT to jeex_readonly`. Never a password. */
  change: string;
}

/** Direct privileges by grantee (`PUBLIC` for everyone), as aclexplode lists them. */
export type Grants = Map<string, Set<string>>;

/** Desired privileges for the grantees `roles apply` manages; grantees not listed are left alone. */
export type DesiredGrants = Record<string, readonly string[]>;

/**
 * Read an ACL: `aclQuery` must return one row per (grantee, privilege), grantee `PUBLIC` for 0.
 * A NULL acl means the default, so queries wrap it in acldefault().
 */
export async function readGrants(sql: Sql, aclQuery: string, params: unknown[] = []): Promise<Grants> {
  const rows = await sql.unsafe<{ grantee: string; privilege: string }[]>(aclQuery, params as never[]);
  const grants: Grants = new Map();
  for (const row of rows) {
    const set = grants.get(row.grantee) ?? new Set<string>();
    set.add(row.privilege);
    grants.set(row.grantee, set);
  }
  return grants;
}

/** The SELECT list that turns an aclexplode() row into (grantee, privilege). */
export const ACL_COLUMNS = "coalesce((SELECT rolname FROM pg_roles WHERE oid = a.grantee), 'PUBLIC') AS grantee, a.privilege_type AS privilege";

const granteeSql = (grantee: string) => (grantee === 'PUBLIC' ? 'PUBLIC' : ident(grantee));

export interface GrantTarget {
  /** How the object is named in the report, e.g. `table public.users`. */
  describe: string;
  /** `GRANT <privileges> ON <on> TO ...`, e.g. `TABLE "public"."users"`. */
  on?: string;
  /** For default privileges: `ALTER DEFAULT PRIVILEGES FOR ROLE x IN SCHEMA y` and `TABLES`. */
  defaults?: { prefix: string; objects: 'TABLES' | 'SEQUENCES' | 'FUNCTIONS' };
}

/**
 * Make the direct privileges of each grantee in `desired` exactly what it lists: GRANT what is
 * missing, REVOKE what is extra. Returns what changed (nothing when it already matched).
 */
export async function ensureGrants(sql: Sql, target: GrantTarget, current: Grants, desired: DesiredGrants): Promise<RoleChange[]> {
  const changes: RoleChange[] = [];
  for (const [grantee, wanted] of Object.entries(desired)) {
    const have = current.get(grantee) ?? new Set<string>();
    const missing = wanted.filter((p) => !have.has(p));
    const extra = [...have].filter((p) => !wanted.includes(p)).sort();
    for (const [verb, privileges, preposition] of [['GRANT', missing, 'TO'], ['REVOKE', extra, 'FROM']] as const) {
      if (privileges.length === 0) continue;
      const list = privileges.join(', ');
      const statement = target.defaults
        ? `${target.defaults.prefix} ${verb} ${list} ON ${target.defaults.objects} ${preposition} ${granteeSql(grantee)}`
        : `${verb} ${list} ON ${target.on ?? ''} ${preposition} ${granteeSql(grantee)}`;
      await sql.unsafe(statement);
      changes.push({ object: target.describe, change: `${verb === 'GRANT' ? 'granted' : 'revoked'} ${list} ${verb === 'GRANT' ? 'to' : 'from'} ${grantee}` });
    }
  }
  return changes;
}
