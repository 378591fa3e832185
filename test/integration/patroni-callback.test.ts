import { spawn } from 'node:child_process';
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { freePort } from '../../src/platform/port.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { opsDir } from '../../src/stack/configure.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// ops/patroni/on-role-change.sh run as Patroni runs it (`SCRIPT on_role_change primary CLUSTER`,
// as the server's OS user, configured through its environment) against a real PgBouncer 1.18
// that still points at a dead primary: afterwards PgBouncer sends the same database to the live
// server, and with PgBouncer down the script still rewrites the ini and exits 0.
const t = useTestDatabase();
const server = inject('testServer');
const script = join(opsDir, 'patroni', 'on-role-change.sh');
const livePort = Number(new URL(server.adminUrl).port || 5432);

let pooler: DedicatedPooler | undefined;
let deadPort: number;
let passwordFile: string;
let console_: { user: string; password: string };

beforeAll(async () => {
  // The "old primary": a port nothing listens on. PgBouncer's clients give up after 2 s.
  deadPort = await freePort();
  pooler = await startDedicatedPooler({ serverPort: deadPort, overrides: { query_wait_timeout: '2' } });
  if (!pooler) return;
  const url = new URL(pooler.consoleUrl);
  console_ = { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  passwordFile = join(pooler.dir, 'console-password');
  await writeFile(passwordFile, console_.password, { mode: 0o600 });
  const as = await serverOsUser();
  if (as) await chown(passwordFile, as.uid, as.gid);
});
afterAll(async () => {
  await pooler?.remove();
});

interface Run {
  code: number | null;
  stderr: string;
  ms: number;
}

/** The callback as Patroni runs it: as the server's OS user, with Patroni's environment. */
async function callback(role: string, target: { port: number }, extra: Record<string, string> = {}): Promise<Run> {
  const own = pooler as DedicatedPooler;
  const as = await serverOsUser();
  const tls = server.tls ? `sslmode=verify-full sslrootcert=${server.tls.caFile}` : 'sslmode=disable';
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: own.dir,
    JEEX_PGBOUNCER_INI: join(own.dir, 'pgbouncer.ini'),
    JEEX_PGBOUNCER_TARGET_HOST: '127.0.0.1',
    JEEX_PGBOUNCER_TARGET_PORT: String(target.port),
    JEEX_PGBOUNCER_CONSOLE: `host=127.0.0.1 port=${own.port} dbname=pgbouncer user=${console_.user} ${tls}`,
    JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE: passwordFile,
    ...extra,
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(script, ['on_role_change', role, 'jeex-test'], { env, stdio: ['ignore', 'ignore', 'pipe'], ...(as ? { uid: as.uid, gid: as.gid } : {}) });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

const ini = () => readFile(join((pooler as DedicatedPooler).dir, 'pgbouncer.ini'), 'utf8');
const fallback = (text: string) => /^\* = (.*)$/m.exec(text)?.[1];

/** SHOW DATABASES on the console: name -> host:port. */
async function shownDatabases(): Promise<Map<string, string>> {
  const admin = poolerAdmin((pooler as DedicatedPooler).consoleUrl);
  try {
    const rows = await admin.unsafe<{ name: string; host: string | null; port: string | number }[]>('SHOW DATABASES').simple();
    return new Map(rows.map((row) => [row.name, `${row.host ?? ''}:${row.port}`]));
  } finally {
    await admin.end({ timeout: 1 });
  }
}

/**
 * The server port a query through the pooler reaches (or the error it gets), and what SHOW
 * DATABASES says for the test database meanwhile: PgBouncer lists a database taken from the `*`
 * entry only while a client is connected to it, so the client stays until both are read.
 */
async function throughPooler(): Promise<{ reached: number | Error; shown: string | undefined }> {
  const sql: postgres.Sql = connect((pooler as DedicatedPooler).through(t.appUrl), { max: 1, prepare: false, connect_timeout: 5, onnotice: () => {} });
  try {
    const query = sql<{ port: number }[]>`SELECT inet_server_port() AS port`.then(
      ([row]) => row?.port ?? new Error('no row'),
      (error: unknown) => error as Error,
    );
    // Read SHOW DATABASES while the client is logged in (waiting for a server or done).
    const reached = await Promise.race([query, new Promise<undefined>((resolve) => setTimeout(resolve, 500, undefined))]);
    const shown = (await shownDatabases()).get(t.name);
    return { reached: reached ?? (await query), shown };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe('ops/patroni/on-role-change.sh with PgBouncer 1.18', () => {
  it('on promotion, repoints PgBouncer from the dead primary to this node: SHOW DATABASES and a query through it reach the new server', async (ctx) => {
    requirePooler(ctx, server);
    // Before: the database is known to PgBouncer with the dead primary's port, and a query fails.
    const before = await throughPooler();
    expect(before.shown).toBe(`127.0.0.1:${deadPort}`);
    expect(before.reached).toBeInstanceOf(Error);
    expect(String(before.reached)).toContain('query_wait_timeout');

    const run = await callback('primary', { port: livePort });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`PgBouncer reloaded: [databases] go to 127.0.0.1:${livePort}`);
    expect(fallback(await ini())).toBe(`host=127.0.0.1 port=${livePort}`);
    expect(await throughPooler()).toEqual({ reached: livePort, shown: `127.0.0.1:${livePort}` });
    // Patroni kills a callback still running when the next one comes: it must be quick.
    expect(run.ms).toBeLessThan(5_000);
  });

  it('run again with the same target: the ini stays byte for byte, PgBouncer is reloaded again, exit 0', async (ctx) => {
    requirePooler(ctx, server);
    const first = await callback('primary', { port: livePort });
    expect(first.code, first.stderr).toBe(0);
    const text = await ini();
    const again = await callback('primary', { port: livePort });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('already sends [databases] to');
    expect(again.stderr).toContain('PgBouncer reloaded');
    expect(await ini()).toBe(text);
    expect(await throughPooler()).toEqual({ reached: livePort, shown: `127.0.0.1:${livePort}` });
  });

  it('a role other than primary changes nothing', async (ctx) => {
    requirePooler(ctx, server);
    const text = await ini();
    for (const role of ['replica', 'demoted']) {
      const run = await callback(role, { port: deadPort });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('nothing to do');
    }
    expect(await ini()).toBe(text);
  });

  it('a missing setting is a configuration error (exit 2) that names the variables', async (ctx) => {
    requirePooler(ctx, server);
    const run = await callback('primary', { port: livePort }, { JEEX_PGBOUNCER_TARGET_HOST: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('JEEX_PGBOUNCER_TARGET_HOST');
  });

  it('with PgBouncer down: exits 0 with a log line, and the ini is rewritten for its next start', async (ctx) => {
    requirePooler(ctx, server);
    const own = pooler as DedicatedPooler;
    await own.stop();
    const logFile = join(own.dir, 'on-role-change.log');
    const otherPort = await freePort();
    const run = await callback('primary', { port: otherPort }, { JEEX_ON_ROLE_CHANGE_LOG: logFile });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/PgBouncer is not reachable \(.*Connection refused.*\); .*pgbouncer\.ini is in place for its next start/);
    expect(fallback(await ini())).toBe(`host=127.0.0.1 port=${otherPort}`);
    expect(await readFile(logFile, 'utf8')).toContain('PgBouncer is not reachable');
  });
});
