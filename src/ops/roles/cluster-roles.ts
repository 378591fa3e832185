import type { Sql } from 'postgres';
import { scramMatches, scramVerifier } from '../../db/scram.ts';
import type { RoleChange } from './acl.ts';
import { MANAGED_SETTINGS, type RoleSpec } from './catalog.ts';
import { ident, literal } from './names.ts';
import { ensureRecord, verifierFingerprint } from './role-record.ts';

interface AuthRow {
  oid: number;
  login: boolean;
  superuser: boolean;
  inherit: boolean;
  createrole: boolean;
  createdb: boolean;
  replication: boolean;
  bypassrls: boolean;
  connlimit: number;
  verifier: string | null;
  comment: string | null;
}

/**
 * Run a statement that carries a SCRAM verifier with statement logging and pg_stat_statements'
 * utility tracking off for its transaction, when the admin may turn them off (a superuser): a
 * verifier is not a password, but it allows an offline guessing attack and has no place in a log.
 */
export async function runQuietly(admin: Sql, statement: string, superuser: boolean): Promise<void> {
  if (!superuser) {
    await admin.unsafe(statement);
    return;
  }
  await admin.begin(async (tx) => {
    await tx.unsafe("SELECT set_config('log_statement', 'none', true), set_config('log_min_duration_statement', '-1', true), set_config('pg_stat_statements.track_utility', 'off', true)");
    await tx.unsafe(statement);
  });
}

function attributes(spec: RoleSpec): string {
  return [
    spec.login ? 'LOGIN' : 'NOLOGIN',
    'NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT',
    spec.replication ? 'REPLICATION' : 'NOREPLICATION',
    `CONNECTION LIMIT ${spec.connectionLimit}`,
  ].join(' ');
}

function attributeDifferences(row: AuthRow, spec: RoleSpec): string[] {
  const differences: string[] = [];
  const flag = (name: string, have: boolean, want: boolean) => {
    if (have !== want) differences.push(`${want ? '' : 'NO'}${name}`);
  };
  flag('LOGIN', row.login, spec.login);
  flag('SUPERUSER', row.superuser, false);
  flag('CREATEDB', row.createdb, false);
  flag('CREATEROLE', row.createrole, false);
  flag('BYPASSRLS', row.bypassrls, false);
  flag('INHERIT', row.inherit, true);
  flag('REPLICATION', row.replication, spec.replication);
  if (row.connlimit !== spec.connectionLimit) differences.push(`CONNECTION LIMIT ${row.connlimit} -> ${spec.connectionLimit}`);
  return differences;
}

/**
 * Create the role or bring its attributes, password, settings and memberships in line with
 * `spec`. `password` undefined keeps the current one. Returns what changed and warnings.
 */
export async function ensureRole(
  admin: Sql,
  spec: RoleSpec,
  password: string | undefined,
  options: { superuser: boolean; managedRoles: readonly string[] },
): Promise<{ changes: RoleChange[]; warnings: string[] }> {
  const object = `role ${spec.name}`;
  const changes: RoleChange[] = [];
  const warnings: string[] = [];
  const read = async () =>
    (
      await admin<AuthRow[]>`
        SELECT oid::int AS oid, rolcanlogin AS login, rolsuper AS superuser, rolinherit AS inherit, rolcreaterole AS createrole,
               rolcreatedb AS createdb, rolreplication AS replication, rolbypassrls AS bypassrls, rolconnlimit AS connlimit,
               rolpassword AS verifier, shobj_description(oid, 'pg_authid') AS comment
        FROM pg_authid WHERE rolname = ${spec.name}`
    )[0];
  let row = await read();
  // Keep a verifier that already matches: a new salt on every start would change what
  // PgBouncer's auth file must hold. One that does not match is set again: the role may have
  // changed its own password (ALTER ROLE <self> PASSWORD is always allowed), locking out every
  // client that holds the one given.
  const newVerifier = password !== undefined && !(row && scramMatches(row.verifier, password)) ? scramVerifier(password) : undefined;
  const passwordClause = newVerifier !== undefined ? ` PASSWORD ${literal(newVerifier)}` : !spec.login && row?.verifier ? ' PASSWORD NULL' : '';
  if (!row) {
    await runQuietly(admin, `CREATE ROLE ${ident(spec.name)} WITH ${attributes(spec)}${passwordClause}`, options.superuser);
    changes.push({ object, change: `created (${spec.login ? 'LOGIN' : 'NOLOGIN'}${spec.replication ? ', REPLICATION' : ''}, connection limit ${spec.connectionLimit}${passwordClause ? ', password set' : ''})` });
    row = await read();
  } else {
    const differences = attributeDifferences(row, spec);
    if (differences.length > 0 || passwordClause) {
      await runQuietly(admin, `ALTER ROLE ${ident(spec.name)} WITH ${attributes(spec)}${passwordClause}`, options.superuser);
      if (differences.length > 0) changes.push({ object, change: `attributes ${differences.join(', ')}` });
      if (passwordClause) {
        const change =
          passwordClause === ' PASSWORD NULL'
            ? 'password removed (it cannot log in)'
            : row.verifier
              ? "password set to the one given (the server's verifier did not match it)"
              : 'password set (SCRAM-SHA-256 verifier)';
        changes.push({ object, change });
      }
    }
  }
  if (!row) throw new Error(`role ${spec.name} was not created`);
  if (spec.login && password === undefined) {
    if (!row.verifier) warnings.push(`${spec.name} has no password and cannot log in; set one with \`jeex-db roles rotate\``);
    else if (!row.verifier.startsWith('SCRAM-SHA-256$')) warnings.push(`${spec.name} has a password that is not a SCRAM-SHA-256 verifier (MD5?); rotate it with \`jeex-db roles rotate\``);
  }

  changes.push(...(await ensureSettings(admin, spec, row.oid)));
  changes.push(...(await ensureMemberships(admin, spec, row.oid, options.managedRoles)));
  if (spec.login) {
    const verifier = newVerifier ?? row.verifier;
    const record = { kind: spec.kind, settings: spec.settings, verifier: verifierFingerprint(verifier) };
    changes.push(...(await ensureRecord(admin, spec.name, row.comment, record, changes.length > 0)));
  }
  return { changes, warnings };
}

/**
 * The role's settings for every database (setdatabase 0) made what the catalog lists, and every
 * per-database setting of a managed name reset: `ALTER ROLE x IN DATABASE d SET` takes precedence
 * over the role's own, and a role may set it for itself.
 */
async function ensureSettings(admin: Sql, spec: RoleSpec, oid: number): Promise<RoleChange[]> {
  const rows = await admin<{ database: string | null; setconfig: string[] | null }[]>`
    SELECT CASE WHEN s.setdatabase = 0 THEN NULL ELSE d.datname END AS database, s.setconfig
    FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
    WHERE s.setrole = ${oid} AND (s.setdatabase = 0 OR d.oid IS NOT NULL)
    ORDER BY 1 NULLS FIRST`;
  const parse = (config: string[] | null) => new Map((config ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  const current = parse(rows.find((r) => r.database === null)?.setconfig ?? null);
  const changes: RoleChange[] = [];
  const object = `role ${spec.name}`;
  for (const name of MANAGED_SETTINGS) {
    const want = spec.settings[name];
    const have = current.get(name);
    if (want === have) continue;
    if (want === undefined) {
      await admin.unsafe(`ALTER ROLE ${ident(spec.name)} RESET ${name}`);
      changes.push({ object, change: `reset ${name} (was ${have ?? ''})` });
    } else {
      await admin.unsafe(`ALTER ROLE ${ident(spec.name)} SET ${name} = ${literal(want)}`);
      changes.push({ object, change: `${name} = ${want}${have === undefined ? '' : ` (was ${have})`}` });
    }
  }
  for (const row of rows) {
    if (row.database === null) continue;
    for (const [name, value] of parse(row.setconfig)) {
      if (!(MANAGED_SETTINGS as readonly string[]).includes(name)) continue;
      await admin.unsafe(`ALTER ROLE ${ident(spec.name)} IN DATABASE ${ident(row.database)} RESET ${name}`);
      changes.push({ object, change: `reset ${name} in database ${row.database} (was ${value}; it overrode the role's ${spec.settings[name] ?? 'default'})` });
    }
  }
  return changes;
}

async function ensureMemberships(admin: Sql, spec: RoleSpec, oid: number, managedRoles: readonly string[]): Promise<RoleChange[]> {
  const rows = await admin<{ role: string; inherit: boolean; grantor: string }[]>`
    SELECT g.rolname AS role, m.inherit_option AS inherit, pg_get_userbyid(m.grantor) AS grantor
    FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = ${oid}`;
  const changes: RoleChange[] = [];
  const object = `role ${spec.name}`;
  for (const want of spec.memberOf) {
    const have = rows.filter((r) => r.role === want.role);
    if (have.length > 0 && have.every((r) => r.inherit === want.inherit)) continue;
    await admin.unsafe(`GRANT ${ident(want.role)} TO ${ident(spec.name)} WITH INHERIT ${want.inherit ? 'TRUE' : 'FALSE'}, SET TRUE`);
    changes.push({ object, change: have.length > 0 ? `membership in ${want.role}: INHERIT ${want.inherit ? 'TRUE' : 'FALSE'}` : `granted membership in ${want.role}${want.inherit ? '' : ' (SET ROLE only, no INHERIT)'}` });
  }
  // Least privilege also means taking away: a membership in one of our roles or a predefined
  // pg_* role that the catalog does not give (e.g. pg_read_all_stats, which the migrator held
  // before the owner role existed).
  for (const row of rows) {
    if (spec.memberOf.some((m) => m.role === row.role)) continue;
    if (!managedRoles.includes(row.role) && !row.role.startsWith('pg_')) continue;
    await admin.unsafe(`REVOKE ${ident(row.role)} FROM ${ident(spec.name)} GRANTED BY ${ident(row.grantor)}`);
    changes.push({ object, change: `revoked membership in ${row.role}` });
  }
  return changes;
}
