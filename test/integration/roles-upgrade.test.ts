import { randomBytes } from 'node:crypto';
import { connect } from '../../src/db/connect.ts';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { scramVerifier } from '../../src/db/scram.ts';
import { migrate, rollback } from '../../src/migrate/runner.ts';
import { applyRoles } from '../../src/ops/roles/apply.ts';
import { LOGIN_KINDS, roleNames } from '../../src/ops/roles/names.ts';
import { PACKAGE_TAGS } from '../helpers/migrations.ts';
import { emailHash, insertUser } from '../helpers/users.ts';
import { withDatabase } from '../helpers/urls.ts';

// A cluster made by jeex-db before the owner role existed: the migrator owned the database and
// everything in it, the app role had its grants FOR ROLE migrator. `roles apply` (which `up` runs
// on every start) must bring it in line, once, and then leave it alone.
describe('roles apply on a cluster made before the owner role', () => {
  const server = inject('testServer');
  const prefix = `jeex_u${randomBytes(3).toString('hex')}`;
  const roles = roleNames(prefix);
  const database = `${prefix}_db`;
  const passwords = Object.fromEntries(LOGIN_KINDS.map((kind) => [kind, randomBytes(24).toString('base64url')])) as Record<(typeof LOGIN_KINDS)[number], string>;
  const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });
  const inDb = connect(withDatabase(server.adminUrl, database), { max: 1, onnotice: () => {} });
  const as = (kind: 'migrator' | 'app') => withDatabase(server.adminUrl, database, { user: roles[kind], password: passwords[kind] });
  const apply = () =>
    applyRoles(admin, (db) => connect(withDatabase(server.adminUrl, db), { max: 1, onnotice: () => {} }), { database, roles, passwords, settings: { auditReads: false } });

  afterAll(async () => {
    await inDb.end({ timeout: 1 });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    for (const role of [...LOGIN_KINDS.map((k) => roles[k]), roles.owner]) await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('moves ownership to the owner role, keeps the data and the migrations working, and is a no-op the second time', async () => {
    // What src/stack/bootstrap.ts did before (the statements of that version).
    for (const kind of ['migrator', 'app'] as const) {
      await admin.unsafe(`CREATE ROLE ${roles[kind]} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${scramVerifier(passwords[kind])}'`);
    }
    await admin.unsafe(`GRANT pg_read_all_stats TO ${roles.migrator}`);
    await admin.unsafe(`ALTER ROLE ${roles.app} SET statement_timeout = '30s'`);
    await admin.unsafe(`CREATE DATABASE ${database} OWNER ${roles.migrator} ENCODING 'UTF8'`);
    await admin.unsafe(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    await admin.unsafe(`GRANT CONNECT, TEMPORARY ON DATABASE ${database} TO ${roles.app}`);
    await inDb.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await inDb.unsafe(`GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO ${roles.migrator}`);
    await inDb.unsafe(`GRANT USAGE ON SCHEMA public TO ${roles.app}`);
    await inDb.unsafe(`ALTER DEFAULT PRIVILEGES FOR ROLE ${roles.migrator} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${roles.app}`);
    await inDb.unsafe(`ALTER DEFAULT PRIVILEGES FOR ROLE ${roles.migrator} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${roles.app}`);
    const oldMigrator = connect(as('migrator'), { max: 2, onnotice: () => {} });
    try {
      await migrate(oldMigrator, { to: '0003_encrypt_users', restorePoint: false });
      await insertUser(oldMigrator, { email: 'before@example.com', name: 'Before' });
    } finally {
      await oldMigrator.end();
    }
    const owners = () =>
      inDb<{ owner: string }[]>`
        SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'jeex_migrations', 'drizzle', 'jeex_audit') AND c.relkind IN ('r', 'S', 'i')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')`;
    expect(await owners()).toEqual([{ owner: roles.migrator }]);

    const upgrade = await apply();
    const changed = upgrade.changes.map((c) => `${c.object}: ${c.change}`);
    expect(changed).toEqual(
      expect.arrayContaining([
        `database ${database}: owner ${roles.migrator} -> ${roles.owner}`,
        `table public.users: owner ${roles.migrator} -> ${roles.owner}`,
        `table jeex_migrations.ledger: owner ${roles.migrator} -> ${roles.owner}`,
        `type public.project_status: owner ${roles.migrator} -> ${roles.owner}`,
        `role ${roles.migrator}: revoked membership in pg_read_all_stats`,
        `role ${roles.migrator}: role = ${roles.owner}`,
      ]),
    );
    expect(await owners()).toEqual([{ owner: roles.owner }]);
    const [fns] = await inDb<{ owners: string[] }[]>`
      SELECT array_agg(DISTINCT pg_get_userbyid(proowner)) AS owners FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'jeex\\_%'`;
    expect(fns?.owners).toEqual([roles.owner]);

    // The migrations go on as the owner (the audit trail), roll back and forward, and the app keeps its rows.
    const migrator = connect(as('migrator'), { max: 2, onnotice: () => {} });
    const app = connect(as('app'), { max: 1, onnotice: () => {} });
    try {
      // (not below 0003: its down file refuses a users table with rows, which SQL cannot decrypt)
      expect((await migrate(migrator, { restorePoint: false })).applied.map((s) => s.name)).toEqual(PACKAGE_TAGS.slice(4));
      expect((await rollback(migrator, { to: '0003_encrypt_users' })).rolledBack).toHaveLength(PACKAGE_TAGS.length - 4);
      expect((await migrate(migrator, { restorePoint: false })).applied).toHaveLength(PACKAGE_TAGS.length - 4);
      expect(await owners()).toEqual([{ owner: roles.owner }]);
      expect(await app<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${emailHash('before@example.com')}`).toEqual([{ n: 1 }]);
      await insertUser(app, { email: 'after@example.com', name: 'After' });
    } finally {
      await migrator.end();
      await app.end();
    }

    const again = await apply();
    expect(again.changes).toEqual([]);
  });
});
