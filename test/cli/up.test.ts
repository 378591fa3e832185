import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { CLI, expectExit, listening, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server/port.ts';
import { deriveSettings } from '../../src/server/tuning.ts';

// End-to-end: the built binary, a real PostgreSQL 18 cluster in a temp directory, a free port.

const JOURNAL = fileURLToPath(new URL('../../drizzle/meta/_journal.json', import.meta.url));
const MIGRATIONS = (JSON.parse(readFileSync(JOURNAL, 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);
// Chosen so that shared_buffers (192MB) and max_connections (150) differ from PostgreSQL's
// defaults: a server that ignored the derived settings would fail the comparison.
const MEMORY = '768MiB';
const CPUS = 6;
const TUNING = ['--memory', MEMORY, '--cpus', String(CPUS)];
const CLUSTER_TIMEOUT = 60_000;

interface UpJson {
  ok: boolean;
  status: 'started' | 'already-running' | 'external';
  created: boolean;
  urls: { app: string; appDirect: string; migrator: string; superuser: string };
  port: number;
  ports: { postgres: number; pgbouncer?: number };
  pooler: { status: string };
  dataDir: string;
  secretsFile: string;
  migrations: { applied: string[]; adopted: string[]; total: number; warnings: string[]; restorePoint?: string };
  settings?: { name: string; value: string; reason: string }[];
  foreground: boolean;
}

async function withSql<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = connect(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('jeex-db up / down / url (local cluster)', () => {
  let root: string;
  let dataDir: string;
  let port: number;
  let first: UpJson;
  const email = `cli-${randomUUID()}@example.com`;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'jeex-cli-up-'));
    await chmod(root, 0o755); // the server's OS user (postgres, when we are root) must reach it
    dataDir = join(root, 'db');
    port = await freePort();
  });

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('up --detach --json on a fresh directory creates, starts and migrates the cluster', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...TUNING]);
    expectExit(result, 0);
    first = parseJson<UpJson>(result);
    expect(first).toMatchObject({ ok: true, status: 'started', created: true, port, dataDir, foreground: false });
    expect(first.migrations.applied).toEqual(expect.arrayContaining(['0000_init', '0001_updated_at_triggers']));
    expect(first.migrations).toMatchObject({ applied: MIGRATIONS, adopted: [], total: MIGRATIONS.length, warnings: [] });
    expect(first.migrations.restorePoint).toBe(`jeex-db before ${MIGRATIONS[0]}`);
    expect(first.settings).toEqual(deriveSettings({ memoryBytes: 768 * 2 ** 20, cpus: CPUS, storage: 'ssd' }));
    // The app URL goes through PgBouncer when it is installed (test/cli/up-pooler.test.ts); the rest are direct.
    const { app, ...direct } = first.urls;
    for (const url of Object.values(direct)) expect(url).toContain(`@127.0.0.1:${port}/`);
    expect(app).toContain(`@127.0.0.1:${first.ports.pgbouncer ?? port}/`);
    expect(first.ports.pgbouncer !== undefined).toBe(first.pooler.status === 'started');

    expect((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toBe(0o600);
    expect(first.secretsFile).toBe(join(dataDir, 'secrets.json'));
    expect(await listening(port)).toBe(true);
  });

  it('the app URL logs in as a non-superuser that can insert a user', { timeout: CLUSTER_TIMEOUT }, async () => {
    const row = await withSql(first.urls.app, async (sql) => {
      const [who] = await sql<{ user: string; super: boolean }[]>`
        SELECT current_user AS user, rolsuper AS super FROM pg_roles WHERE rolname = current_user`;
      const [inserted] = await sql<{ id: string; email: string }[]>`
        INSERT INTO users (email, name) VALUES (${email}, 'CLI test') RETURNING id, email`;
      return { who, inserted };
    });
    expect(row.who).toEqual({ user: 'jeex_app', super: false });
    expect(row.inserted?.email).toBe(email);
    expect(row.inserted?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the running server uses the settings derived for --memory/--cpus and data checksums', { timeout: CLUSTER_TIMEOUT }, async () => {
    const expected = deriveSettings({ memoryBytes: 768 * 2 ** 20, cpus: CPUS, storage: 'ssd' });
    const actual = await withSql(first.urls.superuser, async (sql) => {
      const [shared] = await sql<{ shared_buffers: string }[]>`SHOW shared_buffers`;
      const [work] = await sql<{ work_mem: string }[]>`SHOW work_mem`;
      const [max] = await sql<{ max_connections: string }[]>`SHOW max_connections`;
      const [checksums] = await sql<{ data_checksums: string }[]>`SHOW data_checksums`;
      // Every other derived setting as well, as the server reports it.
      const rows = await sql<{ name: string; value: string }[]>`
        SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY(${expected.map((s) => s.name)})`;
      return {
        shared_buffers: shared?.shared_buffers,
        work_mem: work?.work_mem,
        max_connections: max?.max_connections,
        data_checksums: checksums?.data_checksums,
        all: Object.fromEntries(rows.map((r) => [r.name, r.value])),
      };
    });
    const value = (name: string) => expected.find((s) => s.name === name)?.value;
    expect(actual.shared_buffers).toBe(value('shared_buffers'));
    expect(actual.shared_buffers).toBe('192MB');
    expect(actual.work_mem).toBe(value('work_mem'));
    expect(actual.max_connections).toBe(value('max_connections'));
    expect(actual.max_connections).toBe('150');
    expect(actual.data_checksums).toBe('on');
    expect(actual.all).toEqual(Object.fromEntries(expected.map((s) => [s.name, s.value])));
  });

  it('up while it runs reports already-running and exits 0', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectExit(result, 0);
    const again = parseJson<UpJson>(result);
    expect(again).toMatchObject({ ok: true, status: 'already-running', created: false, port });
    expect(again.migrations).toMatchObject({ applied: [], total: MIGRATIONS.length });
    expect(again.urls).toEqual(first.urls);
  });

  it('human output lists the masked URLs and never a password', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', ...TUNING]);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/PostgreSQL 18\.\d+ already running on 127\.0\.0\.1:\d+/);
    expect(result.stdout).toContain(`postgres://jeex_app:***@127.0.0.1:${port}/jeex`);
    expect(result.stdout).toContain(`postgres://jeex_migrator:***@127.0.0.1:${port}/jeex`);
    expect(result.stdout).toContain(`postgres://postgres:***@127.0.0.1:${port}/postgres`);
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, { password?: string }>;
    const passwords = Object.values(secrets).flatMap((s) => (typeof s === 'object' && s.password ? [s.password] : []));
    expect(passwords).toHaveLength(4); // superuser, migrator, app and PgBouncer's console
    for (const password of passwords) {
      expect(result.stdout).not.toContain(password);
      expect(result.stderr).not.toContain(password);
    }
  });

  it('url superuser prints a full URL that connects as the superuser', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['url', 'superuser', '--data-dir', dataDir]);
    expectExit(result, 0);
    const url = result.stdout.trim();
    expect(url).toBe(first.urls.superuser);
    const who = await withSql(url, async (sql) => {
      const [row] = await sql<{ user: string; super: boolean }[]>`
        SELECT current_user AS user, rolsuper AS super FROM pg_roles WHERE rolname = current_user`;
      return row;
    });
    expect(who).toEqual({ user: 'postgres', super: true });
  });

  it('down, then up on the same directory keeps the data and the port', { timeout: CLUSTER_TIMEOUT }, async () => {
    const stopped = await runCli(['down', '--data-dir', dataDir, '--json']);
    expectExit(stopped, 0);
    expect(parseJson(stopped)).toEqual({ ok: true, dataDir, stopped: true, poolerStopped: first.pooler.status === 'started' });
    expect(await listening(port)).toBe(false);

    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectExit(result, 0);
    const again = parseJson<UpJson>(result);
    expect(again).toMatchObject({ ok: true, status: 'started', created: false, port });
    expect(again.migrations.applied).toEqual([]);
    const rows = await withSql(again.urls.app, (sql) => sql<{ name: string }[]>`SELECT name FROM users WHERE email = ${email}`);
    expect(rows.map((r) => r.name)).toEqual(['CLI test']);
  });

  it('foreground up runs until SIGINT, then stops PostgreSQL and exits 0', { timeout: CLUSTER_TIMEOUT }, async () => {
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    const child = spawn(process.execPath, [CLI, 'up', '--data-dir', dataDir, ...TUNING], {
      env: localEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (/ready on 127\.0\.0\.1:\d+/.test(stdout)) resolve();
        });
        void exited.then((code) => reject(new Error(`up exited (${code}) before it was ready:\n${stdout}\n${stderr}`)));
      });
      expect(stdout).toContain(`ready on 127.0.0.1:${port}`);
      expect(await listening(port)).toBe(true);

      child.kill('SIGINT');
      const code = await exited;
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('SIGINT: stopping PostgreSQL');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(await listening(port)).toBe(false);
    const down = await runCli(['down', '--data-dir', dataDir, '--json']);
    expectExit(down, 0);
    expect(parseJson(down)).toEqual({ ok: true, dataDir, stopped: false, poolerStopped: false });
  });

  it('down where nothing runs exits 0 with stopped:false', { timeout: CLUSTER_TIMEOUT }, async () => {
    const empty = join(root, 'never-used');
    const result = await runCli(['down', '--data-dir', empty, '--json']);
    expectExit(result, 0);
    expect(parseJson(result)).toEqual({ ok: true, dataDir: empty, stopped: false, poolerStopped: false });
    const human = await runCli(['down', '--data-dir', empty]);
    expectExit(human, 0);
    expect(human.stdout).toContain(`PostgreSQL in ${empty} was not running`);
  });
});
