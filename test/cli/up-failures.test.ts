import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import { skipOrFail } from '../helpers/skip.ts';
import { listening, localEnv, reachableTempDir, runCli, type RunResult } from '../helpers/cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/port.ts';

// Every way `up` fails has its own exit code, names the cause and says what to do; with --json
// stdout is still exactly one JSON document.

const SMALL = ['--memory', '512MiB', '--cpus', '2'];
const CLUSTER_TIMEOUT = 60_000;
const isRoot = process.getuid?.() === 0;

interface FailureJson {
  ok: false;
  exitCode: number;
  error: { code: string; message: string; hint?: string; logExcerpt?: string[]; context?: Record<string, unknown> };
}

/**
 * Assert the shape every failure shares: the exit code, one JSON document on stdout with the
 * error code and a hint, and on stderr `error [CODE] message` followed by a `fix:` line.
 */
function expectFailure(result: RunResult, exitCode: number, code: string): FailureJson['error'] {
  const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(result.code, context).toBe(exitCode);
  let doc: FailureJson;
  try {
    doc = JSON.parse(result.stdout) as FailureJson;
  } catch {
    throw new Error(`stdout is not exactly one JSON document\n${context}`);
  }
  expect(doc, context).toMatchObject({ ok: false, exitCode, error: { code } });
  expect(doc.error.message.length, context).toBeGreaterThan(10);
  expect(doc.error.hint, context).toBeTruthy();
  expect(result.stderr, context).toContain(`error [${code}] `);
  expect(result.stderr, context).toMatch(/^fix: .+/m);
  return doc.error;
}

describe('jeex-db up failures', () => {
  const cleanup: string[] = [];
  const clusters: string[] = [];

  afterAll(async () => {
    for (const dataDir of clusters) await runCli(['down', '--data-dir', dataDir]);
    for (const dir of cleanup) {
      await chmod(dir, 0o755).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }, CLUSTER_TIMEOUT);

  it('port in use -> 10, naming the port and how to choose another; a first up leaves no cluster behind', { timeout: CLUSTER_TIMEOUT }, async () => {
    const dir = await reachableTempDir('jeex-cli-port-');
    cleanup.push(dir);
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen({ port, host: '127.0.0.1' }, resolve));
    try {
      const dataDir = join(dir, 'db');
      const result = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...SMALL]);
      const error = expectFailure(result, 10, 'PORT_IN_USE');
      expect(error.message).toContain(`port ${port}`);
      expect(error.hint).toContain('--port');
      // Checked before initdb: no half-made cluster (nor passwords, keys or certificates for one).
      expect(existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
      // So the same directory on a free port starts from scratch, as a first up.
      await new Promise((resolve) => blocker.close(resolve));
      const second = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...SMALL]);
      clusters.push(dataDir);
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, status: 'started', created: true, port });
    } finally {
      if (blocker.listening) await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('a data directory the server user cannot reach -> 11, naming that directory', { timeout: CLUSTER_TIMEOUT }, async () => {
    // As root the CLI runs PostgreSQL as `postgres`, which cannot enter a 0700 root-owned
    // directory; as anyone else, a read-only parent makes creating the data directory fail.
    const parent = await mkdtemp(join(tmpdir(), 'jeex-cli-unreachable-'));
    cleanup.push(parent);
    if (!isRoot) await chmod(parent, 0o500);
    const dataDir = join(parent, 'db');
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(await freePort()), '--detach', '--json', ...SMALL]);
    const error = expectFailure(result, 11, 'DATA_DIR_NOT_WRITABLE');
    expect(error.message).toContain(parent);
    expect(result.stderr).toContain(parent);
    if (isRoot) {
      expect(error.message).toContain('postgres');
      expect(error.hint).toContain(`chmod o+x ${parent}`);
    }
    expect(existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(false);
  });

  it('a cluster from another PostgreSQL major -> 12, pointing at pg_upgrade', { timeout: CLUSTER_TIMEOUT }, async () => {
    const dir = await reachableTempDir('jeex-cli-major-');
    cleanup.push(dir);
    const dataDir = join(dir, 'db');
    await mkdir(join(dataDir, 'pgdata'), { recursive: true });
    await writeFile(join(dataDir, 'pgdata', 'PG_VERSION'), '17\n');
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(await freePort()), '--detach', '--json', ...SMALL]);
    const error = expectFailure(result, 12, 'DATA_DIR_VERSION_MISMATCH');
    expect(error.message).toContain('PostgreSQL 17');
    expect(error.hint).toContain('pg_upgrade');
    expect(await readFile(join(dataDir, 'pgdata', 'PG_VERSION'), 'utf8')).toBe('17\n');
  });

  it('initdb failing (an unknown locale) -> 13 with initdb’s own error', { timeout: CLUSTER_TIMEOUT }, async () => {
    const dir = await reachableTempDir('jeex-cli-initdb-');
    cleanup.push(dir);
    const dataDir = join(dir, 'db');
    const result = await runCli(
      ['up', '--data-dir', dataDir, '--port', String(await freePort()), '--locale', 'xx_NOPE.UTF-8', '--detach', '--json', ...SMALL],
    );
    const error = expectFailure(result, 13, 'INITDB_FAILED');
    expect(error.message).toContain('invalid locale name "xx_NOPE.UTF-8"');
    expect(error.logExcerpt?.join('\n')).toContain('initdb: error: invalid locale name "xx_NOPE.UTF-8"');
    expect(result.stderr).toContain('initdb: error: invalid locale name "xx_NOPE.UTF-8"');
    expect(error.hint).toContain('locale -a');
  });

  describe('an existing cluster whose postgresql.local.conf breaks the start', () => {
    let dir: string;
    let dataDir: string;
    let port: number;
    let localConf: string;

    /** The user's override file, owned by the server's OS user as it would be. */
    async function writeLocalConf(text: string): Promise<void> {
      await writeFile(localConf, text);
      if (isRoot) {
        const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
        const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
        await chown(localConf, uid, gid);
      }
    }

    beforeAll(async () => {
      dir = await reachableTempDir('jeex-cli-start-');
      cleanup.push(dir);
      dataDir = join(dir, 'db');
      clusters.push(dataDir);
      localConf = join(dataDir, 'pgdata', 'postgresql.local.conf');
      port = await freePort();
      const upResult = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...SMALL]);
      if (upResult.code !== 0) throw new Error(`setup: up failed (${upResult.code}):\n${upResult.stdout}\n${upResult.stderr}`);
      const downResult = await runCli(['down', '--data-dir', dataDir, '--json']);
      if (downResult.code !== 0) throw new Error(`setup: down failed:\n${downResult.stderr}`);
    }, CLUSTER_TIMEOUT);

    it('a bad setting -> 14 with the server log lines that say why', { timeout: CLUSTER_TIMEOUT }, async () => {
      await writeLocalConf("shared_buffers = 'lots'\n");
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
      const error = expectFailure(result, 14, 'SERVER_START_FAILED');
      expect(error.message).toContain('postgresql.local.conf');
      expect(error.logExcerpt).toEqual(expect.arrayContaining([expect.stringContaining('invalid value for parameter "shared_buffers": "lots"')]));
      expect(result.stderr).toContain('server log:');
      expect(result.stderr).toContain('invalid value for parameter "shared_buffers": "lots"');
      expect(await listening(port)).toBe(false);
    });

    it('not ready within --start-timeout -> 15, and the server is stopped again', { timeout: CLUSTER_TIMEOUT }, async () => {
      // Every new session sleeps 8s before authenticating: the postmaster is up, no query runs.
      await writeLocalConf("pre_auth_delay = '8s'\n");
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--start-timeout', '3', ...SMALL]);
      const error = expectFailure(result, 15, 'SERVER_START_TIMEOUT');
      expect(error.message).toContain('3s');
      expect(error.hint).toContain('--start-timeout');
      expect(result.ms).toBeLessThan(15_000);

      expect(await listening(port)).toBe(false);
      const down = await runCli(['down', '--data-dir', dataDir, '--json']);
      expect(down.code).toBe(0);
      expect(JSON.parse(down.stdout)).toMatchObject({ ok: true, stopped: false });
    });

    it('once the override is fixed, up works again on the same cluster', { timeout: CLUSTER_TIMEOUT }, async () => {
      await writeLocalConf('');
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, status: 'started', created: false, port });
      expect((await runCli(['down', '--data-dir', dataDir])).code).toBe(0);
    });
  });

  it('DATABASE_URL at a closed port -> 17, without printing its password', { timeout: CLUSTER_TIMEOUT }, async () => {
    const port = await freePort();
    const password = 'do-not-print-this-secret';
    const result = await runCli(['up', '--json'], localEnv({ DATABASE_URL: `postgres://jeex:${password}@127.0.0.1:${port}/jeex` }));
    const error = expectFailure(result, 17, 'CONNECTION_FAILED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.hint).toContain('DATABASE_URL');
    expect(result.stdout).not.toContain(password);
    expect(result.stderr).not.toContain(password);
  });

  it('DATABASE_URL at a PostgreSQL older than 18 -> 17 UNSUPPORTED_SERVER', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    // This machine has a PostgreSQL 15 on 5432 (user postgres, trust auth). Anything else there
    // (nothing, another version, a password) and the case cannot be shown: skip, never migrate it.
    const url = 'postgres://postgres@127.0.0.1:5432/postgres';
    if (!(await listening(5432))) skipOrFail(ctx, 'nothing listens on 127.0.0.1:5432; the PostgreSQL < 18 case needs one there');
    const sql = connect(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    let versionNum = 0;
    try {
      const [row] = await sql<{ num: string }[]>`SELECT current_setting('server_version_num') AS num`;
      versionNum = Number(row?.num);
    } catch (error) {
      skipOrFail(ctx, `cannot log in to 127.0.0.1:5432 as postgres without a password (${(error as Error).message})`);
    } finally {
      await sql.end({ timeout: 2 });
    }
    if (versionNum >= 180000) skipOrFail(ctx, `127.0.0.1:5432 runs PostgreSQL ${versionNum}, not an older major`);

    const result = await runCli(['up', '--json'], localEnv({ DATABASE_URL: url }));
    const error = expectFailure(result, 17, 'UNSUPPORTED_SERVER');
    expect(error.message).toContain(`PostgreSQL ${Math.floor(versionNum / 10000)}.`);
    expect(error.message).toContain('needs 18');
  });

  it('bad usage -> 2, with one JSON document under --json and nothing started', async () => {
    const dir = await reachableTempDir('jeex-cli-usage-');
    cleanup.push(dir);
    const dataDir = join(dir, 'never');
    for (const args of [
      ['up', '--data-dir', dataDir, '--port', '99999', '--json'],
      ['up', '--data-dir', dataDir, '--no-such-option', '--json'],
    ]) {
      const result = await runCli(args);
      const error = expectJsonUsage(result);
      expect(error.code).toBe('INVALID_CONFIG');
    }
    const human = await runCli(['up', '--data-dir', dataDir, '--port', '99999']);
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain("option '--port <n>' argument '99999' is invalid");
    const unknown = await runCli(['up', '--data-dir', dataDir, '--no-such-option']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--no-such-option'");
    expect(existsSync(dataDir)).toBe(false);
  });
});

/** Commander rejects the arguments before any command runs; the JSON has the message and a hint. */
function expectJsonUsage(result: RunResult): FailureJson['error'] {
  const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(result.code, context).toBe(2);
  const doc = JSON.parse(result.stdout) as FailureJson;
  expect(doc, context).toMatchObject({ ok: false, exitCode: 2 });
  expect(doc.error.hint, context).toContain('--help');
  expect(result.stderr, context).toMatch(/^error: /m);
  return doc.error;
}
