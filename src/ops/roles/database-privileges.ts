import type { Sql } from 'postgres';
import { ACL_COLUMNS, ensureGrants, readGrants, type DesiredGrants, type RoleChange } from './acl.ts';
import { ident, LOGIN_KINDS, type RoleSet } from './names.ts';
import { transferOwnership } from './ownership.ts';
import { ensureVerifierFunction } from './verifier-function.ts';

const TABLE_DML = ['DELETE', 'INSERT', 'SELECT', 'UPDATE'] as const;

/** Every grantee `roles apply` manages gets exactly `grants` (unlisted ones: nothing). */
function only(roles: RoleSet, grants: Partial<Record<keyof RoleSet | 'PUBLIC', readonly string[]>>): DesiredGrants {
  const desired: DesiredGrants = { PUBLIC: grants.PUBLIC ?? [] };
  for (const kind of LOGIN_KINDS) desired[roles[kind]] = grants[kind] ?? [];
  return desired;
}

/**
 * What each role may do inside the application database. Schemas:
 *
 * - `public` (the application tables): the app role reads and writes rows, the read-only role
 *   reads them, the monitor role may only use the schema (pg_stat_statements lives there);
 *   nobody but the owner may create anything, PUBLIC may do nothing.
 * - `jeex_migrations`, `drizzle` (the migration ledgers): app, read-only and monitor roles may
 *   read them (assertUpToDate, the health check), nobody may write them but the owner.
 * - `jeex_audit` (the audit trail): nobody but the owner; rows arrive through the audit trigger.
 * - `jeex_roles` (a superuser's, not the owner's): `verifier_fingerprints()`, which only the
 *   monitoring role may call (src/ops/roles/verifier-function.ts).
 *
 * Default privileges make tables and sequences the owner creates later get the same grants.
 */
export async function applyDatabasePrivileges(sql: Sql, roles: RoleSet): Promise<RoleChange[]> {
  const changes: RoleChange[] = [];
  await sql.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  changes.push(...(await transferOwnership(sql, roles.owner, [roles.migrator])));

  // The ledgers' schemas exist before the first migration, so their default privileges can be set.
  for (const schema of ['jeex_migrations', 'drizzle']) {
    const [exists] = await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`;
    if (exists) continue;
    await sql.unsafe(`CREATE SCHEMA ${ident(schema)} AUTHORIZATION ${ident(roles.owner)}`);
    changes.push({ object: `schema ${schema}`, change: `created (owner ${roles.owner})` });
  }

  const readers = { app: ['USAGE'], readonly: ['USAGE'], monitor: ['USAGE'] } as const;
  const schemaGrants: Record<string, DesiredGrants> = {
    public: only(roles, readers),
    jeex_migrations: only(roles, readers),
    drizzle: only(roles, readers),
    jeex_audit: only(roles, {}),
  };
  const ledgerRead = only(roles, { app: ['SELECT'], readonly: ['SELECT'], monitor: ['SELECT'] });
  const tableGrants: Record<string, { tables: DesiredGrants; sequences: DesiredGrants }> = {
    public: {
      tables: only(roles, { app: TABLE_DML, readonly: ['SELECT'] }),
      sequences: only(roles, { app: ['SELECT', 'USAGE'], readonly: ['SELECT'] }),
    },
    jeex_migrations: { tables: ledgerRead, sequences: only(roles, {}) },
    drizzle: { tables: ledgerRead, sequences: only(roles, {}) },
    jeex_audit: { tables: only(roles, {}), sequences: only(roles, {}) },
  };

  for (const [schema, desired] of Object.entries(schemaGrants)) {
    const [exists] = await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`;
    if (!exists) continue;
    const current = await readGrants(sql, `SELECT ${ACL_COLUMNS} FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a WHERE n.nspname = $1`, [schema]);
    changes.push(...(await ensureGrants(sql, { describe: `schema ${schema}`, on: `SCHEMA ${ident(schema)}` }, current, desired)));

    const grants = tableGrants[schema];
    if (!grants) continue;
    changes.push(...(await relationGrants(sql, schema, grants)));
    if (schema === 'jeex_audit') continue;
    for (const [objtype, objects, wanted] of [['r', 'TABLES', grants.tables], ['S', 'SEQUENCES', grants.sequences]] as const) {
      const current = await readGrants(
        sql,
        `SELECT ${ACL_COLUMNS} FROM pg_default_acl d, aclexplode(d.defaclacl) a
         WHERE d.defaclrole = $1::regrole AND d.defaclnamespace = $2::regnamespace AND d.defaclobjtype = $3`,
        [roles.owner, schema, objtype],
      );
      changes.push(
        ...(await ensureGrants(
          sql,
          { describe: `default privileges of ${roles.owner} on ${objects.toLowerCase()} in ${schema}`, defaults: { prefix: `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(roles.owner)} IN SCHEMA ${ident(schema)}`, objects } },
          current,
          wanted,
        )),
      );
    }
  }

  changes.push(...(await functionGrants(sql, roles)));
  changes.push(...(await ensureVerifierFunction(sql, roles.monitor)));
  return changes;
}

/** Grants on every table, view and sequence of `schema`. */
async function relationGrants(sql: Sql, schema: string, grants: { tables: DesiredGrants; sequences: DesiredGrants }): Promise<RoleChange[]> {
  const rows = await sql.unsafe<{ name: string; kind: string; grantee: string | null; privilege: string | null; extension: boolean }[]>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind::text AS kind, g.grantee, g.privilege,
            EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid AND x.deptype = 'e') AS extension
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN LATERAL (SELECT ${ACL_COLUMNS} FROM aclexplode(coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a) g ON true
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
     ORDER BY 1`,
    [schema] as never[],
  );
  const relations = new Map<string, { kind: string; extension: boolean; grants: Map<string, Set<string>> }>();
  for (const row of rows) {
    const relation = relations.get(row.name) ?? { kind: row.kind, extension: row.extension, grants: new Map<string, Set<string>>() };
    if (row.grantee && row.privilege) relation.grants.set(row.grantee, (relation.grants.get(row.grantee) ?? new Set<string>()).add(row.privilege));
    relations.set(row.name, relation);
  }
  const changes: RoleChange[] = [];
  for (const [name, relation] of relations) {
    const sequence = relation.kind === 'S';
    const desired = sequence ? grants.sequences : grants.tables;
    // An extension's objects (pg_stat_statements' views) keep what the extension grants PUBLIC;
    // our roles get nothing more on them.
    const wanted = relation.extension ? Object.fromEntries(Object.entries(desired).filter(([grantee]) => grantee !== 'PUBLIC').map(([grantee]) => [grantee, []])) : desired;
    changes.push(
      ...(await ensureGrants(sql, { describe: `${sequence ? 'sequence' : 'table'} ${name}`, on: `${sequence ? 'SEQUENCE' : 'TABLE'} ${name}` }, relation.grants, wanted)),
    );
  }
  return changes;
}

/** Functions a role needs beyond its table rights (they are per database). */
async function functionGrants(sql: Sql, roles: RoleSet): Promise<RoleChange[]> {
  const functions: [string, DesiredGrants][] = [
    // The migration runner marks "just before migration X" for point-in-time recovery; its session runs as the owner.
    ['pg_catalog.pg_create_restore_point(text)', { [roles.owner]: ['EXECUTE'], [roles.migrator]: [] }],
    // The low-level backup API that `jeex-db backup` uses.
    ['pg_catalog.pg_backup_start(text, boolean)', { [roles.backup]: ['EXECUTE'] }],
    ['pg_catalog.pg_backup_stop(boolean)', { [roles.backup]: ['EXECUTE'] }],
    // Closes the current WAL segment so the archive holds everything up to now (backup tests, bench).
    ['pg_catalog.pg_switch_wal()', { [roles.backup]: ['EXECUTE'] }],
  ];
  const changes: RoleChange[] = [];
  for (const [signature, desired] of functions) {
    const current = await readGrants(sql, `SELECT ${ACL_COLUMNS} FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a WHERE p.oid = $1::regprocedure`, [signature]);
    changes.push(...(await ensureGrants(sql, { describe: `function ${signature}`, on: `FUNCTION ${signature}` }, current, desired)));
  }
  return changes;
}
