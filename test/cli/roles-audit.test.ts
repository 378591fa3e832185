import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditResult } from '../../src/ops/audit/timeline.ts';
import type { ApplyRolesResult } from '../../src/ops/roles/apply.ts';
import type { RotateResult } from '../../src/ops/roles/rotate.ts';
import { createDb } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { scramVerifier } from '../../src/db/scram.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { freePort } from '../../src/platform/port.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { insertUser } from '../helpers/users.ts';

// End-to-end: the built binary on a cluster of its own (`up`), then `roles apply`, `roles rotate`
// and `audit` as a user runs them.

const CLUSTER_TIMEOUT = 90_000;
const TUNING = ['--memory', '512MiB', '--cpus', '2'];

interface UpJson {
  urls: { app: string; appDirect: string; migrator: string; superuser: string; readonly?: string; backup?: string; monitor?: string };
  pooler: { status: string; port?: number; version?: string };
  tls?: { status: string };
}

const error = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code?: string; message?: string }) => e);

describe('jeex-db roles and jeex-db audit (local cluster)', () => {
  let root: string;
  let dataDir: string;
  let up: UpJson;
  const secrets = () => JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, { user: string; password: string }>;
  const cli = async (args: string[], code = 0) => {
    const result = await runCli([...args, '--data-dir', dataDir]);
    expectExit(result, code);
    return result;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'jeex-cli-roles-'));
    await chmod(root, 0o755); // the server's OS user must reach it when the tests run as root
    dataDir = join(root, 'db');
    up = parseJson<UpJson>(await cli(['up', '--detach', '--json', '--port', String(await freePort()), ...TUNING]));
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('up creates every role with a password of its own, and the URLs of the read-only, monitoring and backup roles', async () => {
    expect(Object.keys(secrets()).filter((k) => k !== 'version').sort()).toEqual(['app', 'backup', 'migrator', 'monitor', 'pooler', 'readonly', 'replicator', 'superuser']);
    for (const role of ['readonly', 'monitor', 'backup'] as const) {
      const url = up.urls[role] ?? '';
      const sql = connect(url, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ who: string }[]>`SELECT current_user AS who`;
        expect(row?.who).toBe(`jeex_${role}`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
  }, CLUSTER_TIMEOUT);

  it('roles apply after up changes nothing; a new idle timeout is applied, reported and remembered', { timeout: CLUSTER_TIMEOUT }, async () => {
    expect(parseJson<ApplyRolesResult>(await cli(['roles', 'apply', '--json'])).changes).toEqual([]);
    const changed = parseJson<ApplyRolesResult>(await cli(['roles', 'apply', '--idle-timeout', '10min', '--json']));
    expect(changed.changes.map((c) => c.object).sort()).toEqual(['role jeex_app', 'role jeex_migrator', 'role jeex_monitor', 'role jeex_readonly']);
    expect(changed.changes.every((c) => c.change === 'idle_session_timeout = 10min (was 15min)')).toBe(true);
    // Remembered (state.json): the next run without the flag keeps 10min.
    expect(parseJson<ApplyRolesResult>(await cli(['roles', 'apply', '--json'])).changes).toEqual([]);
    const human = await cli(['roles', 'apply', '--idle-timeout', '15min']);
    expect(human.stdout).toMatch(/4 change\(s\)/);
    expect(human.stdout).toContain('role jeex_app: idle_session_timeout = 15min (was 10min)');
  });

  it('roles rotate app: sessions already open keep working (pooled ones until their next server login), new logins need the new password, directly and through PgBouncer', { timeout: CLUSTER_TIMEOUT }, async () => {
    const before = secrets().app?.password ?? '';
    const direct = connect(up.urls.appDirect, { max: 1, onnotice: () => {} });
    const pooled = connect(up.urls.app, { max: 1, prepare: false, onnotice: () => {} });
    try {
      await direct`SELECT 1`;
      await pooled`SELECT 1`;
      const result = await cli(['roles', 'rotate', 'app', '--json']);
      const rotated = parseJson<RotateResult>(result);
      expect(rotated).toMatchObject({ role: 'app', user: 'jeex_app', generated: true, pooler: up.pooler.port ? 'reloaded' : 'none' });
      const after = secrets().app?.password ?? '';
      expect(after).not.toBe(before);
      expect(after.length).toBeGreaterThanOrEqual(32);
      expect((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toBe(0o600);
      for (const text of [result.stdout, result.stderr]) {
        expect(text).not.toContain(after);
        expect(text).not.toContain(before);
      }

      // Open sessions straight to PostgreSQL are not disturbed.
      expect(await direct<{ one: number }[]>`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      // Through PgBouncer, a client's server connections log in with the SCRAM keys of the
      // client's own login (the old password). PgBouncer before 1.24 closes its TLS server
      // connections on every reload, so the old client's next query needs a new server login,
      // which PostgreSQL refuses: pooled clients must reconnect with the new password (README,
      // "Rotating a password"). Without TLS, or with 1.24+, it lasts until its server connection
      // is replaced (server_lifetime).
      const [major = 0, minor = 0] = (up.pooler.version ?? '').split('.').map(Number);
      const reloadDropsServers = up.tls?.status === 'on' && (major < 1 || (major === 1 && minor < 24));
      if (up.pooler.port && reloadDropsServers) {
        expect(await error(pooled`SELECT 1 AS one`)).toMatchObject({ code: expect.stringMatching(/^(08P01|28P01|CONNECTION_CLOSED)$/) as string });
      } else {
        expect(await pooled<{ one: number }[]>`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      }
      // The old password no longer logs in, the new one does, both ways.
      const withPassword = (url: string, password: string) => {
        const parsed = new URL(url);
        parsed.password = encodeURIComponent(password);
        return parsed.toString();
      };
      const urls = [up.urls.appDirect, ...(up.pooler.port ? [up.urls.app] : [])];
      for (const url of urls) {
        const old = connect(withPassword(url, before), { max: 1, prepare: false, onnotice: () => {} });
        const fresh = connect(withPassword(url, after), { max: 1, prepare: false, onnotice: () => {} });
        try {
          // PostgreSQL: 28P01 "password authentication failed"; PgBouncer: 08P01 "SASL authentication failed".
          expect(await error(old`SELECT 1`), url === up.urls.app ? 'through PgBouncer' : 'direct').toMatchObject({
            code: expect.stringMatching(/^(28P01|08P01)$/) as string,
            message: expect.stringMatching(/(password|SASL) authentication failed/) as string,
          });
          expect(await fresh<{ who: string }[]>`SELECT current_user AS who`, url === up.urls.app ? 'through PgBouncer' : 'direct').toEqual([{ who: 'jeex_app' }]);
        } finally {
          await old.end({ timeout: 1 });
          await fresh.end({ timeout: 1 });
        }
      }
      // `url app` hands out the new password.
      expect((await cli(['url', 'app', '--direct'])).stdout.trim()).toBe(withPassword(up.urls.appDirect, after));
    } finally {
      await direct.end({ timeout: 1 });
      await pooled.end({ timeout: 1 });
    }
  });

  it('roles rotate takes a password from a file if it passes the policy, and refuses a weak one (exit 2, nothing changed)', { timeout: CLUSTER_TIMEOUT }, async () => {
    const file = join(root, 'new-password');
    await writeFile(file, 'password12345678\n', { mode: 0o600 });
    const weak = await cli(['roles', 'rotate', 'readonly', '--password-file', file, '--json'], 2);
    expect(parseJson<{ error: { code: string; message: string } }>(weak).error).toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('common password') as string });
    expect(weak.stderr + weak.stdout).not.toContain('password12345678');
    const unchanged = secrets().readonly?.password;

    const good = 'rotated-by-file-9f2c41d7b3';
    await writeFile(file, `${good}\n`, { mode: 0o600 });
    expect(parseJson<RotateResult>(await cli(['roles', 'rotate', 'readonly', '--password-file', file, '--json']))).toMatchObject({ generated: false, user: 'jeex_readonly' });
    expect(secrets().readonly?.password).toBe(good);
    expect(unchanged).not.toBe(good);
    const sql = connect((await cli(['url', 'readonly'])).stdout.trim(), { max: 1, onnotice: () => {} });
    try {
      expect(await sql<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: 'jeex_readonly' }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a failed login, a denied statement and data changes appear in the JSON log and in `jeex-db audit`', { timeout: CLUSTER_TIMEOUT }, async () => {
    const wrong = new URL(up.urls.appDirect);
    wrong.password = 'not-the-password';
    const intruder = connect(wrong.toString(), { max: 1, onnotice: () => {}, connection: { application_name: 'intruder' } });
    expect(await error(intruder`SELECT 1`)).toMatchObject({ code: '28P01' });
    await intruder.end({ timeout: 1 });
    const app = connect((await cli(['url', 'app', '--direct'])).stdout.trim(), { max: 1, onnotice: () => {} });
    let id = '';
    try {
      expect(await error(app`SELECT * FROM jeex_audit.changes`)).toMatchObject({ code: '42501' });
      // (sealed with the test run's keys: the database checks the envelope's shape, not the key)
      id = await insertUser(app, { email: 'audited@example.com', name: 'Audited' });
      await app`DELETE FROM users WHERE id = ${id}`;
    } finally {
      await app.end({ timeout: 1 });
    }

    // The server's own JSON log has the failed login, with role and client address.
    const log = (await readFile(join(dataDir, 'log', 'server.json'), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(log).toEqual(expect.arrayContaining([expect.objectContaining({ error_severity: 'FATAL', state_code: '28P01', user: 'jeex_app', dbname: 'jeex', remote_host: '127.0.0.1' })]));

    let report: AuditResult | undefined;
    // The collector writes within moments; give it a few tries.
    for (let attempt = 0; attempt < 20; attempt++) {
      report = parseJson<AuditResult>(await cli(['audit', '--since', '10min', '--json']));
      if (report.events.some((e) => e.kind === 'denied')) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(report?.events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'failure', action: 'authentication failed', role: 'jeex_app', database: 'jeex', clientAddr: '127.0.0.1', sqlState: '28P01', source: 'log' }),
        expect.objectContaining({ kind: 'denied', role: 'jeex_app', sqlState: '42501', statement: 'SELECT * FROM jeex_audit.changes' }),
        expect.objectContaining({ kind: 'change', action: 'INSERT', table: 'users', role: 'jeex_app', clientAddr: '127.0.0.1', rowKey: { id }, source: 'audit-table' }),
        expect.objectContaining({ kind: 'change', action: 'DELETE', table: 'users', rowKey: { id } }),
      ]),
    );
    expect(report?.counts.failure).toBeGreaterThanOrEqual(1);
    expect(report?.counts.denied).toBeGreaterThanOrEqual(1);
    expect(report?.counts.change).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(report)).not.toContain('audited@example.com');

    const failures = parseJson<AuditResult>(await cli(['audit', '--since', '10min', '--kind', 'failures', '--json']));
    expect(new Set(failures.events.map((e) => e.kind))).toEqual(new Set(['failure']));
    const human = await cli(['audit', '--since', '10min']);
    expect(human.stdout).toMatch(/failure +authentication failed jeex_app@jeex from 127\.0\.0\.1: \[28P01\]/);
    expect(human.stdout).toMatch(/change +INSERT jeex_app from 127\.0\.0\.1/);
  });

  it('up upgrades a secrets.json made before the read-only, backup and monitoring roles', { timeout: CLUSTER_TIMEOUT }, async () => {
    const file = join(dataDir, 'secrets.json');
    const old = secrets();
    const { readonly: _r, backup: _b, monitor: _m, ...before } = old;
    await writeFile(file, JSON.stringify(before), { mode: 0o600 });
    await cli(['up', '--detach', '--json', ...TUNING]);
    const after = secrets();
    for (const role of ['readonly', 'backup', 'monitor']) {
      expect(after[role]?.user).toBe(`jeex_${role}`);
      expect(after[role]?.password).not.toBe(old[role]?.password);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // up set the new passwords on the server: the URLs work.
    const sql = connect((await cli(['url', 'monitor'])).stdout.trim(), { max: 1, onnotice: () => {} });
    try {
      expect(await sql<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: 'jeex_monitor' }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('roles apply --url and roles rotate --url manage another server, passwords from the environment or a file', { timeout: CLUSTER_TIMEOUT }, async () => {
    const superuser = new URL(up.urls.superuser);
    superuser.pathname = '/elsewhere';
    const env = localEnv({ JEEX_APP_PASSWORD: 'app-password-from-env-3c9f', JEEX_MIGRATOR_PASSWORD_FILE: join(root, 'migrator-password') });
    await writeFile(join(root, 'migrator-password'), 'migrator-password-file-71d2\n', { mode: 0o600 });
    const apply = await runCli(['roles', 'apply', '--url', superuser.toString(), '--prefix', 'ext', '--json'], env);
    expectExit(apply, 0);
    const applied = parseJson<ApplyRolesResult>(apply);
    expect(applied).toMatchObject({ createdDatabase: true, roles: { owner: 'ext_owner', app: 'ext_app' } });
    // Roles whose password was not given cannot log in until it is set, and the run says so.
    expect(applied.warnings).toEqual(['ext_readonly', 'ext_backup', 'ext_monitor', 'ext_replicator'].map((r) => `${r} has no password and cannot log in; set one with \`jeex-db roles rotate\``));
    expect(apply.stdout + apply.stderr).not.toContain('app-password-from-env-3c9f');
    const login = async (user: string, password: string) => {
      const url = new URL(superuser);
      url.username = user;
      url.password = password;
      const sql = connect(url.toString(), { max: 1, onnotice: () => {} });
      try {
        return await sql<{ who: string }[]>`SELECT current_user AS who`;
      } finally {
        await sql.end({ timeout: 1 });
      }
    };
    expect(await login('ext_app', 'app-password-from-env-3c9f')).toEqual([{ who: 'ext_app' }]);
    expect(await login('ext_migrator', 'migrator-password-file-71d2')).toEqual([{ who: 'ext_owner' }]);

    await writeFile(join(root, 'monitor-password'), 'monitor-password-given-5e8a\n', { mode: 0o600 });
    const rotate = await runCli(['roles', 'rotate', 'monitor', '--url', superuser.toString(), '--prefix', 'ext', '--password-file', join(root, 'monitor-password'), '--json'], localEnv());
    expectExit(rotate, 0);
    expect(parseJson<{ user: string }>(rotate).user).toBe('ext_monitor');
    expect(await login('ext_monitor', 'monitor-password-given-5e8a')).toEqual([{ who: 'ext_monitor' }]);
    // Without a password to set, --url refuses (it keeps no secrets.json there).
    expectExit(await runCli(['roles', 'rotate', 'monitor', '--url', superuser.toString(), '--prefix', 'ext'], localEnv()), 2);
    // A weak password from the environment is refused before anything changes.
    const weak = await runCli(['roles', 'apply', '--url', superuser.toString(), '--prefix', 'ext', '--json'], localEnv({ JEEX_APP_PASSWORD: 'qwerty' }));
    expectExit(weak, 2);
    expect(parseJson<{ error: { message: string } }>(weak).error.message).toContain('JEEX_APP_PASSWORD was refused');
  });

  // Issue 18, finding 6: the app role changed its own password and settings. PostgreSQL allows it
  // (no privilege can take it away), so health names it, the errors say so, and `roles apply`
  // (and `up`) set it back, PgBouncer included.
  it('the app role changes its own password and settings: pooled clients are told why, health names the role, roles apply and up set it back', { timeout: 3 * CLUSTER_TIMEOUT }, async () => {
    type Doc = { status: string; checks: Record<string, { status: string; observedValue: unknown; output?: string }[]> };
    // Exit 3 (HEALTH_FAIL) when something fails; 0 or 1 (a warn elsewhere, e.g. the cache of a young cluster) otherwise.
    const health = async (failing: boolean) => {
      const result = await runCli(['health', '--json', '--data-dir', dataDir]);
      if (failing) expectExit(result, EXIT.HEALTH_FAIL);
      else expect([0, 1], result.stdout).toContain(result.code);
      return parseJson<Doc>(result);
    };
    const entry = (doc: Doc, key: string) => doc.checks[key]?.[0];
    const appDirect = (await cli(['url', 'app', '--direct'])).stdout.trim();
    const appPooled = (await cli(['url', 'app'])).stdout.trim();
    const superuser = connect(up.urls.superuser, { max: 1, onnotice: () => {} });
    const tamper = async (statements: string[]) => {
      const app = connect(appDirect, { max: 1, onnotice: () => {} });
      try {
        for (const statement of statements) await app.unsafe(statement);
      } finally {
        await app.end({ timeout: 1 });
      }
      // PgBouncer's server connections log in again (as they do after server_idle_timeout).
      await superuser`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'jeex_app'`;
    };
    const pooledOnce = async () => {
      const db = createDb({ url: appPooled, max: 1, applicationName: 'self-change' }, {});
      try {
        return await db.sql<{ timeout: string }[]>`SELECT current_setting('statement_timeout') AS timeout`.then((rows) => rows[0]?.timeout, (e: unknown) => translateDbError(e));
      } finally {
        await db.close(1);
      }
    };
    try {
      await tamper(['ALTER ROLE jeex_app SET statement_timeout = 0', `ALTER ROLE CURRENT_USER PASSWORD '${scramVerifier('the-app-chose-this-itself')}'`]);

      if (up.pooler.port) {
        // PgBouncer still accepts the client (its auth file has the verifier it had) but cannot log in
        // to PostgreSQL: the first client waits out query_wait_timeout, the next ones fail fast.
        const first = await pooledOnce();
        expect(first).toBeInstanceOf(JeexDbError);
        expect(first).toMatchObject({ code: 'POOL_TIMEOUT', hint: expect.stringMatching(/PgBouncer could not log in to PostgreSQL.*password was changed on the server.*jeex-db roles apply/) as string });
        const next = await pooledOnce();
        expect(next).toMatchObject({ code: 'CONNECTION_FAILED', hint: expect.stringMatching(/password authentication failed.*ALTER ROLE \.\.\. PASSWORD.*jeex-db roles apply/) as string });
      }
      const broken = await health(true);
      expect(entry(broken, 'postgresql:rolePasswords')).toMatchObject({ status: 'fail', observedValue: 1, output: expect.stringMatching(/^the password of jeex_app is not the one .*jeex-db roles apply/) as string });
      expect(entry(broken, 'postgresql:roleSettings')).toMatchObject({ status: 'fail', output: expect.stringContaining('jeex_app: statement_timeout is 0 (roles apply set 30s)') as string });

      const repaired = parseJson<ApplyRolesResult>(await cli(['roles', 'apply', '--json']));
      expect(repaired.changes.map((c) => `${c.object}: ${c.change}`)).toEqual(
        expect.arrayContaining([
          "role jeex_app: password set to the one given (the server's verifier did not match it)",
          'role jeex_app: statement_timeout = 30s (was 0)',
          ...(up.pooler.port ? ["PgBouncer: auth file rewritten and reloaded (a pooled role's password was set)"] : []),
        ]),
      );
      if (up.pooler.port) expect(await pooledOnce()).toBe('30s');
      const healed = await health(false);
      expect(entry(healed, 'postgresql:rolePasswords')).toMatchObject({ status: 'pass' });
      expect(entry(healed, 'postgresql:roleSettings')).toMatchObject({ status: 'pass' });

      // `up` (which runs roles apply through bootstrapDatabase, then refreshes PgBouncer) sets it back as well.
      await tamper(['ALTER ROLE jeex_app SET idle_session_timeout = 0', `ALTER ROLE jeex_app PASSWORD '${scramVerifier('the-app-chose-this-again')}'`]);
      expect((await health(true)).status).toBe('fail');
      await cli(['up', '--detach', '--json', ...TUNING]);
      if (up.pooler.port) expect(await pooledOnce()).toBe('30s');
      const afterUp = await health(false);
      expect([entry(afterUp, 'postgresql:rolePasswords')?.status, entry(afterUp, 'postgresql:roleSettings')?.status]).toEqual(['pass', 'pass']);

      // Nor can it reach the maintenance databases any more.
      for (const database of ['postgres', 'template1']) {
        const other = new URL(appDirect);
        other.pathname = `/${database}`;
        const sql = connect(other.toString(), { max: 1, onnotice: () => {} });
        try {
          expect(await error(sql`SELECT 1`), database).toMatchObject({ code: '42501' });
        } finally {
          await sql.end({ timeout: 1 });
        }
      }
    } finally {
      await superuser.end({ timeout: 1 });
    }
  });

  it('health runs as the monitoring role and can see everything it checks', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['health', '--json', '--data-dir', dataDir]);
    const doc = parseJson<{ status: string; checks: Record<string, { status: string; output?: string }[]> }>(result);
    expect(['pass', 'warn']).toContain(doc.status);
    const outputs = Object.values(doc.checks).flat().map((c) => c.output ?? '');
    expect(outputs.filter((o) => /permission denied|insufficient privilege/i.test(o))).toEqual([]);
  });
});
