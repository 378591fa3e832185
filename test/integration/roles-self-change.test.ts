import { type Sql } from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import pino from 'pino';
import { AlertEngine } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules } from '../../src/ops/alerts/rules.ts';
import { connect } from '../../src/db/connect.ts';
import { scramVerifier } from '../../src/db/scram.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { applyRoles } from '../../src/ops/roles/apply.ts';
import type { LoginKind } from '../../src/ops/roles/names.ts';
import { setRolePassword } from '../../src/ops/roles/rotate.ts';
import { createRoleFixture, type RoleFixture } from '../helpers/roles.ts';
import { withDatabase } from '../helpers/urls.ts';

// Issue 18, finding 6: "The app role can `ALTER ROLE jeex_app PASSWORD ...` and `ALTER ROLE self
// SET statement_timeout = 0` or the idle timeouts; readonly can too. jeex_app can CONNECT to
// `postgres` and `template1`." PostgreSQL lets any role change its own password and settings
// (user.c: AlterRole, AlterRoleSet), so it cannot be refused: `jeex-db health` must show it,
// naming the role, the setting and the fix, and `roles apply` must set it back. Roles of their own.

const failure = (promise: PromiseLike<unknown>) => Promise.resolve(promise).then(() => undefined, (e: unknown) => e as { code?: string; message?: string });

function check(doc: HealthDocument, key: string): HealthCheck {
  const found = doc.checks[key]?.[0];
  if (!found) throw new Error(`no ${key} in ${JSON.stringify(doc, null, 2)}`);
  return found;
}

describe('a login role that changes its own settings or password', () => {
  let fixture: RoleFixture;
  const clients: Sql[] = [];
  const as = (kind: LoginKind, database?: string, password?: string) => {
    const url = new URL(fixture.url(kind));
    if (database) url.pathname = `/${database}`;
    if (password) url.password = encodeURIComponent(password);
    const sql = connect(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    clients.push(sql);
    return sql;
  };
  /** The health check as the fixture's monitoring role, on the fixture's database (one client: the role has a connection limit). */
  let monitor: Sql | undefined;
  const health = () => checkHealth((monitor ??= as('monitor')), { env: {} });

  beforeAll(async () => {
    ({ fixture } = await createRoleFixture({ auditReads: false }));
  }, 60_000);
  afterAll(async () => {
    for (const sql of clients) await sql.end({ timeout: 1 });
    await fixture?.remove();
  });

  // Each test starts from the roles as `roles apply` leaves them.
  beforeEach(async () => {
    await fixture.apply();
  });

  it('PostgreSQL lets the app and read-only roles change their own settings and password, not their record or another role', async () => {
    const { roles } = fixture;
    const app = as('app');
    const readonly = as('readonly');
    // Allowed whatever the role's privileges (src/backend/commands/user.c): this is why it is watched, not refused.
    expect(await failure(app.unsafe(`ALTER ROLE ${roles.app} SET statement_timeout = 0`))).toBeUndefined();
    expect(await failure(app.unsafe(`ALTER ROLE CURRENT_USER IN DATABASE ${fixture.database} SET idle_session_timeout = 0`))).toBeUndefined();
    expect(await failure(readonly.unsafe(`ALTER ROLE ${roles.readonly} SET idle_in_transaction_session_timeout = 0`))).toBeUndefined();
    expect(await failure(app.unsafe(`ALTER ROLE ${roles.app} PASSWORD '${scramVerifier('chosen-by-the-app-itself-1')}'`))).toBeUndefined();
    // Refused: the record health compares with, another role's settings, its own attributes.
    for (const statement of [`COMMENT ON ROLE ${roles.app} IS 'mine now'`, `ALTER ROLE ${roles.readonly} SET statement_timeout = 0`, `ALTER ROLE ${roles.app} CONNECTION LIMIT -1`]) {
      expect(await failure(app.unsafe(statement)), statement).toMatchObject({ code: '42501' });
    }
    // The monitoring role cannot read verifiers, only the fingerprints of the roles with a record.
    expect(await failure(as('monitor')`SELECT rolpassword FROM pg_authid`)).toMatchObject({ code: '42501' });
    expect(await failure(app`SELECT * FROM jeex_roles.verifier_fingerprints()`)).toMatchObject({ code: '42501' });
  });

  it('health, as the monitoring role, fails naming the role, the setting and the fix; roles apply sets them back', async () => {
    const { roles } = fixture;
    const clean = await health();
    expect(check(clean, 'postgresql:roleSettings')).toMatchObject({ status: 'pass', observedValue: 0, componentId: fixture.database });
    expect(check(clean, 'postgresql:rolePasswords')).toMatchObject({ status: 'pass', observedValue: 0 });

    await as('app').unsafe(`ALTER ROLE ${roles.app} SET statement_timeout = 0`);
    await as('app').unsafe(`ALTER ROLE ${roles.app} IN DATABASE ${fixture.database} SET lock_timeout = 0`);
    await as('readonly').unsafe(`ALTER ROLE ${roles.readonly} RESET idle_session_timeout`);
    // It takes effect at the next login, for every client of the role.
    expect(await as('app')<{ statement_timeout: string; lock_timeout: string }[]>`SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout`).toEqual([
      { statement_timeout: '0', lock_timeout: '0' },
    ]);

    const doc = await health();
    expect(doc.status).toBe('fail');
    const settings = check(doc, 'postgresql:roleSettings');
    expect(settings).toMatchObject({ status: 'fail', observedValue: 3, observedUnit: '{setting}' });
    expect(settings.output).toContain(`${roles.app}: statement_timeout is 0 (roles apply set 30s)`);
    expect(settings.output).toContain(`${roles.app} in database ${fixture.database}: lock_timeout = 0 overrides the role's 10s`);
    expect(settings.output).toContain(`${roles.readonly}: idle_session_timeout is not set (roles apply set 15min)`);
    expect(settings.output).toContain('`jeex-db roles apply`');
    expect(check(doc, 'postgresql:rolePasswords').status).toBe('pass');
    const engine = new AlertEngine({ logger: pino({ level: 'silent' }), webhook: null, rules: defaultAlertRules.filter((r) => r.name.startsWith('role-')) });
    expect(engine.evaluate(doc, Date.now())).toEqual([expect.objectContaining({ alert: 'role-settings-changed', state: 'firing', severity: 'warning' })]);

    const repaired = await fixture.apply();
    expect(repaired.changes.map((c) => `${c.object}: ${c.change}`)).toEqual(
      expect.arrayContaining([
        `role ${roles.app}: statement_timeout = 30s (was 0)`,
        `role ${roles.app}: reset lock_timeout in database ${fixture.database} (was 0; it overrode the role's 10s)`,
        `role ${roles.readonly}: idle_session_timeout = 15min`,
      ]),
    );
    expect(await as('app')<{ statement_timeout: string; lock_timeout: string }[]>`SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout`).toEqual([
      { statement_timeout: '30s', lock_timeout: '10s' },
    ]);
    expect(check(await health(), 'postgresql:roleSettings')).toMatchObject({ status: 'pass', observedValue: 0 });
    expect((await fixture.apply()).changes).toEqual([]);
  });

  it('a password the role set itself: health names the role, roles apply sets the given one back; a rotation is not reported', async () => {
    const { roles, passwords } = fixture;
    const theirs = 'chosen-by-the-app-itself-2';
    await as('app').unsafe(`ALTER ROLE ${roles.app} PASSWORD '${scramVerifier(theirs)}'`);
    // Every client that holds the given password is locked out at its next login.
    const refused = await failure(as('app')`SELECT 1`);
    expect(refused).toMatchObject({ code: '28P01' });
    const translated = translateDbError(refused);
    expect(translated.code).toBe('AUTHENTICATION_FAILED');
    expect(translated.hint).toMatch(/password was changed on the server \(ALTER ROLE \.\.\. PASSWORD.*jeex-db roles apply/);

    const doc = await health();
    const passwordsCheck = check(doc, 'postgresql:rolePasswords');
    expect(passwordsCheck).toMatchObject({ status: 'fail', observedValue: 1, observedUnit: '{role}' });
    expect(passwordsCheck.output).toMatch(new RegExp(`^the password of ${roles.app} is not the one \`jeex-db roles apply\` or \`roles rotate\` set\\..*jeex-db roles apply`));
    expect(JSON.stringify(doc)).not.toContain(theirs);

    // The default alert rules fire on it at once (serve's alert loop: a log line and the webhook).
    const engine = new AlertEngine({ logger: pino({ level: 'silent' }), webhook: null, rules: defaultAlertRules.filter((r) => r.name.startsWith('role-')) });
    expect(engine.evaluate(doc, Date.now())).toEqual([expect.objectContaining({ alert: 'role-password-changed', state: 'firing', severity: 'critical' })]);

    const repaired = await fixture.apply();
    expect(repaired.changes).toContainEqual({ object: `role ${roles.app}`, change: "password set to the one given (the server's verifier did not match it)" });
    expect(engine.evaluate(await health(), Date.now())).toEqual([expect.objectContaining({ alert: 'role-password-changed', state: 'resolved' })]);
    expect(await as('app')<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: roles.app }]);
    expect(check(await health(), 'postgresql:rolePasswords')).toMatchObject({ status: 'pass', observedValue: 0 });

    // `roles rotate` keeps the record in step: its new password is not "changed behind our back".
    const rotated = 'rotated-by-the-operator-7c1e';
    const admin = connect(inject('testServer').adminUrl, { max: 1, onnotice: () => {} });
    try {
      await setRolePassword(admin, roles.readonly, rotated);
    } finally {
      await admin.end();
    }
    expect(await as('readonly', undefined, rotated)<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: roles.readonly }]);
    expect(check(await health(), 'postgresql:rolePasswords')).toMatchObject({ status: 'pass', observedValue: 0 });
    // Set by hand as a superuser: reported too, until roles apply without that role's password takes it as the one set.
    const byHand = 'set-by-hand-in-psql-4b7d';
    await fixture.admin.unsafe(`ALTER ROLE ${roles.readonly} PASSWORD '${scramVerifier(byHand)}'`);
    expect(check(await health(), 'postgresql:rolePasswords')).toMatchObject({ status: 'fail', output: expect.stringContaining(`the password of ${roles.readonly} is not`) as string });
    const { readonly: _kept, ...others } = passwords;
    const server = inject('testServer');
    const admin2 = connect(server.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await applyRoles(admin2, (db) => connect(withDatabase(server.adminUrl, db), { max: 1, onnotice: () => {} }), { database: fixture.database, roles, passwords: others, settings: { auditReads: false } });
    } finally {
      await admin2.end();
    }
    expect(check(await health(), 'postgresql:rolePasswords')).toMatchObject({ status: 'pass', observedValue: 0 });
    expect(await as('readonly', undefined, byHand)<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: roles.readonly }]);
    // roles apply then sets the password it was given again (it always wins), and says so.
    expect((await fixture.apply()).changes).toContainEqual({ object: `role ${roles.readonly}`, change: "password set to the one given (the server's verifier did not match it)" });
    expect(await as('readonly', undefined, passwords.readonly)<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: roles.readonly }]);
  });

  it('no login role can connect to postgres or template1; the monitoring and backup roles still work on the application database', async () => {
    for (const kind of ['app', 'readonly', 'migrator', 'backup', 'monitor'] as const) {
      for (const database of ['postgres', 'template1']) {
        const sql = as(kind, database);
        const error = await failure(sql`SELECT 1`);
        await sql.end({ timeout: 1 });
        expect(error, `${kind} -> ${database}`).toMatchObject({ code: '42501', message: expect.stringMatching(new RegExp(`^permission denied for database "?${database}"?$`)) as string });
      }
    }
    const acl = await fixture.admin<{ datname: string; public: boolean }[]>`
      SELECT datname, has_database_privilege('public', datname, 'CONNECT') AS public FROM pg_database WHERE datname IN ('postgres', 'template1') ORDER BY 1`;
    expect(acl).toEqual([{ datname: 'postgres', public: false }, { datname: 'template1', public: false }]);
    // The superuser is not affected (CONNECT is not checked for superusers): roles apply and up connect there.
    const superuser = connect(withDatabase(inject('testServer').adminUrl, 'template1'), { max: 1, onnotice: () => {} });
    clients.push(superuser);
    expect(await superuser<{ db: string }[]>`SELECT current_database() AS db`).toEqual([{ db: 'template1' }]);
    // Cluster-wide views show the other databases from the application's: the monitor needs no CONNECT there.
    expect(await as('monitor')<{ datname: string }[]>`SELECT datname FROM pg_stat_database WHERE datname IN ('postgres', 'template1') ORDER BY 1`).toEqual([{ datname: 'postgres' }, { datname: 'template1' }]);
    expect(await as('backup')<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: fixture.roles.backup }]);
    const doc = await health();
    expect(Object.values(doc.checks).flat().filter((c) => /permission denied|insufficient privilege/i.test(c.output ?? ''))).toEqual([]);
  });
});
