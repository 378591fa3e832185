import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../../src/migrate/runner.ts';
import type { ApplyRolesResult } from '../../src/ops/roles/apply.ts';
import type { LoginKind } from '../../src/ops/roles/names.ts';
import { createRoleFixture, type RoleFixture } from '../helpers/roles.ts';
import { emailHash, insertUser, rawUser } from '../helpers/users.ts';

/** A raw INSERT of a user whose email and name are sealed with the run's keys (SEC-001: the table refuses plaintext). */
function insertUserStatement(email: string, name: string): string {
  const u = rawUser(email, name);
  return `INSERT INTO users (id, email, email_hash, name) VALUES ('${u.id}', '${u.email}', '\\x${u.email_hash.toString('hex')}', '${u.name}')`;
}
const SEED = `'\\x${emailHash('seed@example.com').toString('hex')}'`;

type Who = LoginKind | 'nobody';
/** `ok`, or the SQLSTATE the statement must fail with. */
type Outcome = 'ok' | '42501';

const ROLLBACK = new Error('rolled back on purpose');

/** Run `statement` as `who` in a transaction that is always rolled back: 'ok' or the SQLSTATE. */
async function attempt(sql: Sql, statement: string): Promise<string> {
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(statement);
      throw ROLLBACK;
    });
  } catch (error) {
    if (error === ROLLBACK) return 'ok';
    return (error as { code?: string }).code ?? String(error);
  }
  return 'ok';
}

// REQ-006.1, SEC-002: each role can do exactly what it is for. Every cell is run for real, as
// that role, in a transaction rolled back afterwards.
const MATRIX: [Who, string, Outcome][] = [
  // The application role: rows of the application tables, nothing else.
  ['app', 'SELECT count(*) FROM users', 'ok'],
  ['app', insertUserStatement('matrix@example.com', 'M'), 'ok'],
  ['app', `UPDATE users SET last_login_at = now() WHERE email_hash = ${SEED}`, 'ok'],
  ['app', `DELETE FROM users WHERE email_hash = ${SEED}`, 'ok'],
  ['app', 'CREATE TEMPORARY TABLE staging (id int)', 'ok'],
  ['app', 'CREATE TABLE app_made (id int)', '42501'],
  ['app', 'ALTER TABLE users ADD COLUMN sneaky text', '42501'],
  ['app', 'CREATE INDEX ON users (name)', '42501'],
  ['app', 'DROP TABLE exports', '42501'],
  ['app', 'TRUNCATE users', '42501'],
  ['app', 'CREATE FUNCTION public.app_fn() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', '42501'],
  ['app', 'CREATE SCHEMA app_schema', '42501'],
  ['app', 'SELECT count(*) FROM jeex_migrations.ledger', 'ok'],
  ['app', "INSERT INTO jeex_migrations.ledger (name, sha256, direction, status, started_at) VALUES ('x', 'x', 'up', 'applied', now())", '42501'],
  ['app', "UPDATE jeex_migrations.ledger SET status = 'failed'", '42501'],
  ['app', 'DELETE FROM drizzle.__drizzle_migrations', '42501'],
  ['app', 'SELECT count(*) FROM jeex_audit.changes', '42501'],
  ['app', "UPDATE jeex_audit.changes SET db_role = 'x'", '42501'],
  ['app', 'DELETE FROM jeex_audit.changes', '42501'],
  ['app', "INSERT INTO jeex_audit.changes (table_name, operation, row_key, db_role, session_role, transaction_id) VALUES ('users', 'DELETE', '{}', 'x', 'x', '1')", '42501'],
  ['app', 'SELECT pg_backup_start($$x$$, true)', '42501'],
  // The read-only role: reads, never writes.
  ['readonly', 'SELECT count(*) FROM users', 'ok'],
  ['readonly', 'SELECT count(*) FROM jeex_migrations.ledger', 'ok'],
  ['readonly', insertUserStatement('ro@example.com', 'R'), '42501'],
  ['readonly', 'UPDATE users SET last_login_at = now()', '42501'],
  ['readonly', 'DELETE FROM users', '42501'],
  ['readonly', 'TRUNCATE users', '42501'],
  ['readonly', 'CREATE TABLE ro_made (id int)', '42501'],
  ['readonly', 'SELECT count(*) FROM jeex_audit.changes', '42501'],
  // The migrator, as the owner: the schema is its to change.
  ['migrator', 'CREATE TABLE migrator_made (id int)', 'ok'],
  ['migrator', 'ALTER TABLE users ADD COLUMN nickname text', 'ok'],
  ['migrator', 'CREATE INDEX ON users (name)', 'ok'],
  ['migrator', 'DROP TABLE exports', 'ok'],
  ['migrator', 'TRUNCATE users CASCADE', 'ok'],
  // ... but as itself (RESET ROLE to no role at all) it can change nothing.
  ['migrator', 'SET LOCAL ROLE NONE; CREATE TABLE public.migrator_itself (id int)', '42501'],
  ['migrator', 'SET LOCAL ROLE NONE; ALTER TABLE public.users ADD COLUMN nickname text', '42501'],
  // The monitoring role: statistics, not rows.
  ['monitor', 'SELECT count(*) FROM pg_stat_activity', 'ok'],
  ['monitor', 'SELECT count(*) FROM pg_stat_statements', 'ok'],
  ['monitor', 'SELECT count(*) FROM jeex_migrations.ledger', 'ok'],
  ['monitor', 'SELECT count(*) FROM users', '42501'],
  ['monitor', insertUserStatement('mon@example.com', 'M'), '42501'],
  ['monitor', 'SELECT count(*) FROM jeex_audit.changes', '42501'],
  // The backup role: reads everything (row counts), writes nothing, changes nothing.
  ['backup', 'SELECT count(*) FROM users', 'ok'],
  ['backup', insertUserStatement('bk@example.com', 'B'), '42501'],
  ['backup', 'CREATE TABLE backup_made (id int)', '42501'],
  ['backup', 'TRUNCATE users', '42501'],
];

describe('least privilege: the privilege matrix of the roles `roles apply` makes', () => {
  let fixture: RoleFixture;
  let first: ApplyRolesResult;
  const clients = new Map<Who, Sql>();
  const as = (who: Who) => {
    let sql = clients.get(who);
    if (!sql) {
      const url = who === 'nobody' ? '' : fixture.url(who);
      sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      clients.set(who, sql);
    }
    return sql;
  };

  beforeAll(async () => {
    ({ fixture, first } = await createRoleFixture({ connectionLimits: { readonly: 2 }, auditReads: false }));
    const migrator = connect(fixture.url('migrator'), { max: 2, onnotice: () => {} });
    try {
      await migrate(migrator, { restorePoint: false });
    } finally {
      await migrator.end();
    }
    await insertUser(as('app'), { email: 'seed@example.com', name: 'Seed' });
  }, 60_000);

  afterAll(async () => {
    for (const sql of clients.values()) await sql.end({ timeout: 1 });
    await fixture?.remove();
  });

  it.each(MATRIX)('%s: %s -> %s', async (who, statement, expected) => {
    expect(await attempt(as(who), statement)).toBe(expected);
  });

  it('the replicator (what a standby stores) cannot open a session on any database: REPLICATION and nothing else', async () => {
    const replicator = connect(fixture.url('replicator'), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await expect(replicator`SELECT 1`).rejects.toMatchObject({ code: '42501' });
    } finally {
      await replicator.end({ timeout: 1 });
    }
    const [row] = await fixture.admin<{ replication: boolean; members: number }[]>`
      SELECT rolreplication AS replication, (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = r.oid) AS members FROM pg_roles r WHERE rolname = ${fixture.roles.replicator}`;
    expect(row).toEqual({ replication: true, members: 0 });
  });

  it('the migrator runs as the owner role, and what it creates belongs to the owner', async () => {
    const [row] = await as('migrator')<{ current: string; session: string }[]>`SELECT current_user AS current, session_user AS session`;
    expect(row).toEqual({ current: fixture.roles.owner, session: fixture.roles.migrator });
    const owners = await fixture.admin<{ owner: string; n: number }[]>`
      SELECT pg_get_userbyid(c.relowner) AS owner, count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('public', 'jeex_migrations', 'drizzle', 'jeex_audit') AND c.relkind IN ('r', 'S', 'i', 'v')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      GROUP BY 1`;
    expect(owners).toEqual([{ owner: fixture.roles.owner, n: expect.any(Number) as number }]);
    const [db] = await fixture.admin<{ owner: string }[]>`SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()`;
    expect(db?.owner).toBe(fixture.roles.owner);
  });

  it('no login role is a superuser or may create roles or databases, and the owner cannot log in', async () => {
    const rows = await fixture.admin<{ rolname: string; rolcanlogin: boolean; powerful: boolean }[]>`
      SELECT rolname, rolcanlogin, (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls) AS powerful
      FROM pg_roles WHERE rolname = ANY(${Object.values(fixture.roles)}) ORDER BY rolname`;
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.powerful)).toEqual([]);
    expect(rows.filter((r) => !r.rolcanlogin).map((r) => r.rolname)).toEqual([fixture.roles.owner]);
    // The only superuser that can log in is the cluster's own (initdb's), not one of ours.
    const superusers = await fixture.admin<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE rolsuper AND rolcanlogin`;
    expect(superusers.map((r) => r.rolname)).not.toEqual(expect.arrayContaining(Object.values(fixture.roles)));
    const owner = await attempt(connect(fixture.url('app').replace(encodeURIComponent(fixture.roles.app), fixture.roles.owner), { max: 1, onnotice: () => {} }), 'SELECT 1');
    expect(owner).toMatch(/^28/); // NOLOGIN: refused at login (28000), whatever the password
  });

  it('PUBLIC has no CONNECT or CREATE: a role without grants cannot even connect', async () => {
    const [acl] = await fixture.admin<{ connect: boolean; temp: boolean; create: boolean; usage: boolean }[]>`
      SELECT has_database_privilege('public', current_database(), 'CONNECT') AS connect,
             has_database_privilege('public', current_database(), 'TEMPORARY') AS temp,
             has_schema_privilege('public', 'public', 'CREATE') AS create,
             has_schema_privilege('public', 'public', 'USAGE') AS usage`;
    expect(acl).toEqual({ connect: false, temp: false, create: false, usage: false });
    const nobody = `${fixture.prefix}_nobody`;
    await fixture.admin.unsafe(`CREATE ROLE ${nobody} LOGIN PASSWORD 'nobody-password-1234567'`);
    try {
      const url = new URL(fixture.url('app'));
      url.username = nobody;
      url.password = 'nobody-password-1234567';
      const sql = connect(url.toString(), { max: 1, onnotice: () => {} });
      try {
        const error = await sql`SELECT 1`.then(() => undefined, (e: { code?: string; message?: string }) => e);
        expect(error).toMatchObject({ code: '42501', message: expect.stringContaining('permission denied for database') as string });
      } finally {
        await sql.end({ timeout: 1 });
      }
    } finally {
      await fixture.admin.unsafe(`DROP ROLE ${nobody}`);
    }
  });

  it('the monitoring role sees every session in full; the read-only role does not', async () => {
    const marker = `matrix_marker_${Date.now()}`;
    await as('app').unsafe(`SELECT '${marker}'`);
    const query = (who: Who) => as(who)<{ query: string }[]>`SELECT query FROM pg_stat_activity WHERE usename = ${fixture.roles.app}`;
    expect((await query('monitor')).map((r) => r.query)).toContain(`SELECT '${marker}'`);
    expect((await query('readonly')).map((r) => r.query)).toEqual(['<insufficient privilege>']);
  });

  it('the backup role can start and stop a base backup', async () => {
    const sql = connect(fixture.url('backup'), { max: 1, onnotice: () => {} });
    try {
      const reserved = await sql.reserve();
      try {
        const [start] = await reserved<{ lsn: string }[]>`SELECT pg_backup_start('roles matrix', true)::text AS lsn`;
        expect(start?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        const [stop] = await reserved<{ labelfile: string }[]>`SELECT labelfile FROM pg_backup_stop(wait_for_archive => false)`;
        expect(stop?.labelfile).toContain('LABEL: roles matrix');
      } finally {
        reserved.release();
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('applies a connection limit per role (here 2 for the read-only role)', async () => {
    const sessions = [connect(fixture.url('readonly'), { max: 1, onnotice: () => {} }), connect(fixture.url('readonly'), { max: 1, onnotice: () => {} })];
    const third = connect(fixture.url('readonly'), { max: 1, onnotice: () => {} });
    try {
      // The matrix's client may hold one already: close it so exactly two are open.
      await clients.get('readonly')?.end({ timeout: 1 });
      clients.delete('readonly');
      for (const sql of sessions) await sql`SELECT 1`;
      const error = await third`SELECT 1`.then(() => undefined, (e: { code?: string; message?: string }) => e);
      expect(error).toMatchObject({ code: '53300', message: expect.stringContaining('too many connections for role') as string });
    } finally {
      for (const sql of [...sessions, third]) await sql.end({ timeout: 1 });
    }
  });

  it('roles apply reported what it created, and a second run changes nothing', async () => {
    expect(first.createdDatabase).toBe(true);
    expect(first.changes).toEqual(expect.arrayContaining([{ object: `role ${fixture.roles.owner}`, change: expect.stringMatching(/^created \(NOLOGIN/) as string }]));
    const again = await fixture.apply();
    expect(again.changes).toEqual([]);
    expect(again.warnings).toEqual([]);
    expect(again.createdDatabase).toBe(false);
  });

  it("shows nothing of the run's other databases: the roles are this database's only", async () => {
    const server = inject('testServer');
    const sql = connect(fixture.url('app').replace(`/${fixture.database}`, `/${server.templateDatabase}`), { max: 1, onnotice: () => {} });
    try {
      const error = await sql`SELECT 1`.then(() => undefined, (e: { code?: string }) => e);
      expect(error).toMatchObject({ code: '42501' });
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
