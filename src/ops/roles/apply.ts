import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { ACL_COLUMNS, ensureGrants, readGrants, type RoleChange } from './acl.ts';
import { roleCatalog, type RoleSpec } from './catalog.ts';
import { ensureRole } from './cluster-roles.ts';
import { applyDatabasePrivileges } from './database-privileges.ts';
import { ident, LOGIN_KINDS, type LoginKind, type RoleSet } from './names.ts';
import { DEFAULT_ROLE_SETTINGS, type RoleSettings } from './settings.ts';

export interface ApplyRolesOptions {
  /** The application database: created (owned by the owner role) when missing. */
  database: string;
  roles: RoleSet;
  /**
   * Passwords of the login roles. Sent to the server only as SCRAM-SHA-256 verifiers. A role
   * without one keeps its current password (a new role then has none and cannot log in).
   */
  passwords?: Partial<Record<LoginKind, string>>;
  settings?: Partial<RoleSettings>;
}

export interface ApplyRolesResult {
  roles: RoleSet;
  /** The roles as applied (attributes, settings, memberships). */
  catalog: RoleSpec[];
  /** What changed; empty when everything already matched. */
  changes: RoleChange[];
  /** Things to act on that `apply` cannot fix itself (a login role without a password). */
  warnings: string[];
  createdDatabase: boolean;
  durationMs: number;
}

/**
 * Create the roles and the database, or bring them back in line (idempotent: `up` runs it on
 * every start, and a second run changes nothing). See src/ops/roles/catalog.ts for what each role
 * is, and applyDatabasePrivileges for what it may do.
 *
 * `admin` must be a superuser connection to any database of the cluster; `connectTo(db)` opens
 * another superuser connection to `db` (grants are per database).
 *
 * @example
 * const result = await applyRoles(admin, (db) => postgres(withDatabase(url, db)), {
 *   database: 'jeex', roles: roleNames('jeex'), passwords: { app: secret },
 * });
 * for (const c of result.changes) console.log(`${c.object}: ${c.change}`);
 */
export async function applyRoles(admin: Sql, connectTo: (database: string) => Sql, options: ApplyRolesOptions): Promise<ApplyRolesResult> {
  const started = Date.now();
  const { roles } = options;
  const settings: RoleSettings = { ...DEFAULT_ROLE_SETTINGS, ...options.settings, connectionLimits: { ...DEFAULT_ROLE_SETTINGS.connectionLimits, ...options.settings?.connectionLimits } };
  const [me] = await admin<{ superuser: boolean; user: string; maxConnections: string }[]>`
    SELECT rolsuper AS superuser, current_user AS user, current_setting('max_connections') AS "maxConnections" FROM pg_roles WHERE rolname = current_user`;
  if (!me?.superuser) {
    throw new JeexDbError('INSUFFICIENT_PRIVILEGE', `roles apply needs a superuser connection; ${me?.user ?? 'this role'} is not one`, {
      hint: 'Connect as the cluster superuser (locally: `jeex-db roles apply` uses it; elsewhere pass --url with a superuser).',
    });
  }
  const catalog = roleCatalog(roles, settings, Number(me.maxConnections));
  const changes: RoleChange[] = [];
  const warnings: string[] = [];
  for (const spec of catalog) {
    const password = spec.kind === 'owner' ? undefined : options.passwords?.[spec.kind];
    const result = await ensureRole(admin, spec, password, { superuser: true, managedRoles: Object.values(roles) });
    changes.push(...result.changes);
    warnings.push(...result.warnings);
  }

  const [db] = await admin<{ owner: string }[]>`SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ${options.database}`;
  if (!db) {
    await admin.unsafe(`CREATE DATABASE ${ident(options.database)} OWNER ${ident(roles.owner)} ENCODING 'UTF8'`);
    changes.push({ object: `database ${options.database}`, change: `created (owner ${roles.owner})` });
  } else if (db.owner !== roles.owner) {
    await admin.unsafe(`ALTER DATABASE ${ident(options.database)} OWNER TO ${ident(roles.owner)}`);
    changes.push({ object: `database ${options.database}`, change: `owner ${db.owner} -> ${roles.owner}` });
  }
  const current = await readGrants(admin, `SELECT ${ACL_COLUMNS} FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d'::"char", d.datdba))) a WHERE d.datname = $1`, [options.database]);
  changes.push(
    ...(await ensureGrants(admin, { describe: `database ${options.database}`, on: `DATABASE ${ident(options.database)}` }, current, {
      PUBLIC: [],
      [roles.migrator]: ['CONNECT'],
      // Temporary tables: a service's staging of a bulk import.
      [roles.app]: ['CONNECT', 'TEMPORARY'],
      [roles.readonly]: ['CONNECT'],
      [roles.backup]: ['CONNECT'],
      [roles.monitor]: ['CONNECT'],
    })),
  );

  changes.push(...(await closeMaintenanceDatabases(admin, options.database, roles)));

  const inDb = connectTo(options.database);
  try {
    changes.push(...(await applyDatabasePrivileges(inDb, roles)));
  } finally {
    await inDb.end({ timeout: 5 });
  }
  return { roles, catalog, changes, warnings, createdDatabase: !db, durationMs: Date.now() - started };
}

/**
 * The databases every cluster has besides the application's: `postgres` (the maintenance
 * database) and `template1` (what CREATE DATABASE copies). initdb gives PUBLIC CONNECT and
 * TEMPORARY on both, so without this every login role could connect there (and the app role set
 * itself settings for them). PUBLIC loses both, our login roles any direct grant; superusers
 * connect anyway (CONNECT is not checked for them), which is all `roles apply`, `up` and
 * pg_upgrade need. Cluster-wide views (pg_stat_activity, pg_stat_database, pg_stat_archiver,
 * ...) show every database from any of them, so the monitoring role needs neither.
 * template0 accepts no connections at all (datallowconn).
 */
export const MAINTENANCE_DATABASES = ['postgres', 'template1'] as const;

async function closeMaintenanceDatabases(admin: Sql, appDatabase: string, roles: RoleSet): Promise<RoleChange[]> {
  const changes: RoleChange[] = [];
  for (const database of MAINTENANCE_DATABASES) {
    if (database === appDatabase) continue;
    // (no rows when the database does not exist: nothing to revoke then)
    const current = await readGrants(admin, `SELECT ${ACL_COLUMNS} FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d'::"char", d.datdba))) a WHERE d.datname = $1`, [database]);
    const desired = Object.fromEntries([['PUBLIC', []], ...LOGIN_KINDS.map((kind) => [roles[kind], []])]) as Record<string, string[]>;
    changes.push(...(await ensureGrants(admin, { describe: `database ${database}`, on: `DATABASE ${ident(database)}` }, current, desired)));
  }
  return changes;
}
