import { readFileSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { buildUrl } from '../../src/local/state.ts';
import { poolerAdmin, showConfig, showPools } from '../../src/ops/pooler/admin.ts';
import { opsDir } from '../../src/stack/configure.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { freeClusterPort } from '../helpers/ports.ts';
import { processAlive } from '../../src/platform/process-alive.ts';
import { tlsFiles } from '../../src/ops/tls/files.ts';
import { expectExit, listening, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';
import { requirePooler } from '../helpers/skip.ts';
import { emailHash, rawUser } from '../helpers/users.ts';

// End-to-end: the built binary starts, restarts, reloads and stops a real PgBouncer next to a real
// PostgreSQL 18 in a temp directory.

const CLUSTER_TIMEOUT = 90_000;
const TUNING = ['--memory', '512MiB', '--cpus', '2'];

interface UpJson {
  ok: boolean;
  status: 'started' | 'already-running';
  urls: { app: string; appDirect: string; migrator: string; superuser: string };
  pooler: { status: 'started' | 'already-running' | 'reloaded' | 'absent' | 'disabled'; port?: number; version?: string; preparedStatements?: boolean; reason?: string };
  port: number;
  ports: { postgres: number; pgbouncer?: number };
}

interface Secrets {
  app: { user: string; password: string };
  pooler: { user: string; password: string };
}

async function withSql<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = connect(url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('jeex-db up / down with PgBouncer', () => {
  let root: string;
  let dataDir: string;
  let port: number;
  let expectedPoolerPort: number;
  let poolerPort: number;
  let secrets: Secrets;
  const pgbouncerFile = (name: string) => join(dataDir, 'pgbouncer', name);
  /** What every URL of this cluster ends with: TLS, verified against its development CA. */
  const tlsQuery = () => `?sslmode=verify-full&sslrootcert=${tlsFiles(dataDir).caCert}`;
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const poolerPid = async () => Number.parseInt(await readFile(pgbouncerFile('pgbouncer.pid'), 'utf8'), 10);
  const up = async (...extra: string[]) => {
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING, ...extra]);
    expectExit(result, 0);
    return parseJson<UpJson>(result);
  };
  /** The PgBouncer console of this cluster (user and password from secrets.json). */
  const onConsole = async <T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
    const sql = poolerAdmin(buildUrl({ ...secrets.pooler, host: '127.0.0.1', port: poolerPort, database: 'pgbouncer', tls: { rootCert: tlsFiles(dataDir).caCert } }));
    try {
      return await fn(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-pooler-');
    dataDir = join(root, 'db');
    // A port whose +1000 neighbour is free, so the default PgBouncer port can be predicted.
    port = await freeClusterPort();
    expectedPoolerPort = port + 1000;
  });
  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('up --detach --json starts PgBouncer on the postgres port + 1000; urls.app goes through it, urls.appDirect does not', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const first = await up('--port', String(port));
    expect(first.pooler).toMatchObject({ status: 'started', port: expectedPoolerPort, preparedStatements: false });
    expect(first.pooler.version).toMatch(/^1\.\d+\.\d+$/);
    expect(first.ports).toEqual({ postgres: port, pgbouncer: expectedPoolerPort });
    poolerPort = expectedPoolerPort;
    expect(first.urls.app).toContain(`@127.0.0.1:${poolerPort}/jeex`);
    expect(first.urls.appDirect).toContain(`@127.0.0.1:${port}/jeex`);
    expect(first.urls.migrator).toContain(`@127.0.0.1:${port}/`);
    secrets = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as Secrets;

    // The app role logs in through PgBouncer with its own password and writes a row.
    const email = `pooler-cli-${Date.now()}@example.com`;
    const row = await withSql(first.urls.app, async (sql) => {
      const [who] = await sql<{ user: string; statement_timeout: string }[]>`SELECT current_user AS user, current_setting('statement_timeout') AS statement_timeout`;
      const u = rawUser(email, 'Through PgBouncer');
      await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
      return who;
    });
    expect(row).toEqual({ user: 'jeex_app', statement_timeout: '30s' });
    // PgBouncer's console saw that client in the jeex/jeex_app pool, in transaction mode.
    const pools = await onConsole(showPools);
    expect(pools).toEqual(expect.arrayContaining([expect.objectContaining({ database: 'jeex', user: 'jeex_app', pool_mode: 'transaction' })]));
    const [direct] = await withSql(first.urls.appDirect, (sql) => sql<{ n: string }[]>`SELECT count(*) AS n FROM users WHERE email_hash = ${emailHash(email)}`);
    expect(direct?.n).toBe('1');

    // The generated ini follows the server (max_connections 100 for 2 CPUs) and the CPUs.
    const ini = await readFile(pgbouncerFile('pgbouncer.ini'), 'utf8');
    expect(ini).toMatch(/^pool_mode = transaction$/m);
    expect(ini).toMatch(/^max_db_connections = 85$/m);
    expect(ini).toMatch(/^default_pool_size = 20$/m);
    expect(ini).toMatch(new RegExp(`^listen_port = ${poolerPort}$`, 'm'));
  });

  it('userlist.txt is 0600, owned by the server user, and holds SCRAM verifiers, never a password', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const file = pgbouncerFile('userlist.txt');
    const info = await stat(file);
    expect(info.mode & 0o777).toBe(0o600);
    const as = await serverOsUser();
    if (as) expect(info.uid).toBe(as.uid);
    const text = await readFile(file, 'utf8');
    const lines = text.trim().split('\n');
    // The roles whose logins go through PgBouncer (the app and read-only roles), and its console user.
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['"jeex_app"', '"jeex_readonly"', `"${secrets.pooler.user}"`]);
    for (const line of lines) expect(line).toMatch(/^"[a-z_]+" "SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+"$/);
    for (const password of [secrets.app.password, secrets.pooler.password]) expect(text).not.toContain(password);
    expect((await stat(pgbouncerFile('pgbouncer.ini'))).mode & 0o777).toBe(0o600);
  });

  it('a second up finds PgBouncer running and leaves it alone', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pid = await poolerPid();
    const again = await up();
    expect(again.status).toBe('already-running');
    expect(again.pooler).toMatchObject({ status: 'already-running', port: poolerPort });
    expect(await poolerPid()).toBe(pid);

    const human = await runCli(['up', '--data-dir', dataDir, '--detach', ...TUNING]);
    expectExit(human, 0);
    expect(human.stdout).toMatch(new RegExp(`app +postgres://jeex_app:\\*\\*\\*@127\\.0\\.0\\.1:${poolerPort}/jeex${escape(tlsQuery())} .*PgBouncer`));
    expect(human.stdout).toMatch(new RegExp(`app direct +postgres://jeex_app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/jeex${escape(tlsQuery())}`));
    expect(human.stdout + human.stderr).not.toContain(secrets.app.password);
  });

  it('url app prints the pooled URL, url app --direct the one straight to PostgreSQL', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pooled = await runCli(['url', 'app', '--data-dir', dataDir]);
    const direct = await runCli(['url', 'app', '--direct', '--data-dir', dataDir]);
    expectExit(pooled, 0);
    expectExit(direct, 0);
    expect(pooled.stdout.trim()).toBe(`postgres://jeex_app:${secrets.app.password}@127.0.0.1:${poolerPort}/jeex${tlsQuery()}`);
    expect(direct.stdout.trim()).toBe(`postgres://jeex_app:${secrets.app.password}@127.0.0.1:${port}/jeex${tlsQuery()}`);
    const [viaPooler] = await withSql(pooled.stdout.trim(), (sql) => sql<{ port: number }[]>`SELECT inet_server_port() AS port`);
    expect(viaPooler?.port).toBe(port);
  });

  it('up restarts a PgBouncer that was killed, on the same port', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pid = await poolerPid();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(50);
    expect(processAlive(pid)).toBe(false);
    expect(await listening(poolerPort)).toBe(false);

    const restarted = await up();
    expect(restarted.status).toBe('already-running');
    expect(restarted.pooler).toMatchObject({ status: 'started', port: poolerPort });
    expect(await poolerPid()).not.toBe(pid);
    const [row] = await withSql(restarted.urls.app, (sql) => sql<{ user: string }[]>`SELECT current_user AS user`);
    expect(row?.user).toBe('jeex_app');
  });

  it('up with other CPUs rewrites pgbouncer.ini and reloads it: the running PgBouncer takes the new pool size', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pid = await poolerPid();
    const showPoolSize = () =>
      onConsole(async (sql) => (await showConfig(sql)).get('default_pool_size'));
    expect(await showPoolSize()).toBe('20');

    const reloaded = await up('--cpus', '3');
    expect(reloaded.pooler).toMatchObject({ status: 'reloaded', port: poolerPort });
    expect(await readFile(pgbouncerFile('pgbouncer.ini'), 'utf8')).toMatch(/^default_pool_size = 30$/m);
    expect(await poolerPid()).toBe(pid);
    // RELOAD is asynchronous (SIGHUP): wait for the console to report it.
    let size: string | undefined;
    for (let i = 0; i < 50 && size !== '30'; i++) {
      size = await showPoolSize();
      if (size !== '30') await sleep(100);
    }
    expect(size).toBe('30');
  });

  it('up --no-pooler stops PgBouncer and points the app URL straight at PostgreSQL; up brings it back', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pid = await poolerPid();
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--no-pooler', ...TUNING]);
    expectExit(result, 0);
    const disabled = parseJson<UpJson>(result);
    expect(disabled.pooler.status).toBe('disabled');
    expect(disabled.urls.app).toContain(`@127.0.0.1:${port}/jeex`);
    expect(disabled.urls.app).toBe(disabled.urls.appDirect);
    expect(disabled.ports).toEqual({ postgres: port });
    expect(processAlive(pid)).toBe(false);
    expect(await listening(poolerPort)).toBe(false);
    const url = await runCli(['url', 'app', '--data-dir', dataDir]);
    expect(url.stdout.trim()).toContain(`@127.0.0.1:${port}/jeex`);

    const back = await up();
    expect(back.pooler).toMatchObject({ status: 'started', port: poolerPort });
    expect(back.urls.app).toContain(`:${poolerPort}/jeex`);
  });

  it('down stops PgBouncer and PostgreSQL', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pid = await poolerPid();
    const result = await runCli(['down', '--data-dir', dataDir, '--json']);
    expectExit(result, 0);
    expect(parseJson(result)).toEqual({ ok: true, dataDir, stopped: true, poolerStopped: true });
    expect(processAlive(pid)).toBe(false);
    expect(await listening(poolerPort)).toBe(false);
    expect(await listening(port)).toBe(false);

    const human = await runCli(['down', '--data-dir', dataDir]);
    expectExit(human, 0);
    expect(human.stdout).not.toContain('PgBouncer');
  });
});

describe('jeex-db config --format pgbouncer', () => {
  it('prints ops/pgbouncer.ini for its reference server, and other pool sizes for another', async () => {
    const reference = await runCli(['config', '--format', 'pgbouncer', '--cpus', '2']);
    expectExit(reference, 0);
    expect(reference.stdout).toBe(readFileSync(join(opsDir, 'pgbouncer.ini'), 'utf8'));

    const bigger = await runCli(['config', '--format', 'pgbouncer', '--cpus', '8', '--max-connections', '400', '--prepared-statements']);
    expectExit(bigger, 0);
    expect(bigger.stdout).toMatch(/^max_db_connections = 385$/m);
    expect(bigger.stdout).toMatch(/^default_pool_size = 80$/m);
    expect(bigger.stdout).toMatch(/^max_prepared_statements = 200$/m);
    expect(bigger.stdout).toContain('max_connections = 400 and 8 CPUs, PgBouncer 1.21+');
  });
});
