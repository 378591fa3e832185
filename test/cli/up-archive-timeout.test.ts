import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { CLI, expectExit, localEnv, reachableTempDir, runCli } from '../helpers/cli.ts';

// RPO right after a start: the README promises that a crash loses at most archive_timeout of
// committed data from the archive. PostgreSQL 18's checkpointer, which enforces archive_timeout,
// computes its first sleep while the server is still starting and then sleeps checkpoint_timeout
// (15 min): without a wake-up from `up`, a commit right after a start (clean, or after kill -9)
// stayed out of the archive for up to 15 minutes. This cluster lowers archive_timeout to 5 s
// (postgresql.local.conf) to keep the test short; the margin covers the archiver's copy.

const TIMEOUT = 120_000;
const ARCHIVE_TIMEOUT_S = 5;
const MARGIN_S = 15;
const SMALL = ['--memory', '512MiB', '--cpus', '2', '--no-pooler'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('archive_timeout from the first minute after a start', () => {
  let root: string;
  let dataDir: string;
  let layout: LocalLayout;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-rpo-');
    dataDir = join(root, 'db');
    layout = localLayout(dataDir);
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(await freePort()), '--detach', '--json', ...SMALL]);
    if (result.code !== 0) throw new Error(`setup: up failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    const conf = join(layout.pgdata, 'postgresql.local.conf');
    await writeFile(conf, `archive_timeout = '${ARCHIVE_TIMEOUT_S}s'\n`);
    if (process.getuid?.() === 0) {
      await chown(conf, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
    }
  }, TIMEOUT);

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  /** Commit a row now; resolve with the seconds until the WAL segment holding it is in the archive (or the cap). */
  async function commitAndTimeArchive(): Promise<{ seconds: number; segment: string }> {
    const sql = connect(localUrl(layout, 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });
    try {
      await sql`CREATE TABLE IF NOT EXISTS rpo_probe (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz DEFAULT now())`;
      await sql`INSERT INTO rpo_probe DEFAULT VALUES`;
      const [row] = await sql<{ segment: string }[]>`SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment`;
      const committed = Date.now();
      const file = join(dataDir, 'backups', 'wal', row?.segment ?? '');
      const cap = (ARCHIVE_TIMEOUT_S + MARGIN_S + 5) * 1000;
      while (!existsSync(file) && Date.now() - committed < cap) await sleep(200);
      return { seconds: (Date.now() - committed) / 1000, segment: row?.segment ?? '' };
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  function postmasterPid(): number {
    return Number(readFileSync(join(layout.pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  async function gone(pid: number): Promise<void> {
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(100);
  }

  it(`a commit right after a clean start is archived within archive_timeout (${ARCHIVE_TIMEOUT_S} s) + ${MARGIN_S} s`, { timeout: TIMEOUT }, async () => {
    expectExit(await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]), 0);
    const { seconds, segment } = await commitAndTimeArchive();
    expect(seconds, `segment ${segment}`).toBeLessThan(ARCHIVE_TIMEOUT_S + MARGIN_S);
  });

  it(`a commit right after a crash restart (kill -9 of the postmaster, then up) is archived within archive_timeout + ${MARGIN_S} s`, { timeout: TIMEOUT }, async () => {
    const pid = postmasterPid();
    process.kill(pid, 'SIGKILL');
    await gone(pid);
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
    expectExit(result, 0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'started' });
    const { seconds, segment } = await commitAndTimeArchive();
    expect(seconds, `segment ${segment}`).toBeLessThan(ARCHIVE_TIMEOUT_S + MARGIN_S);
  });

  it('up in the foreground re-arms archive_timeout after the server restarts itself for a crashed backend', { timeout: TIMEOUT }, async () => {
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    const child = spawn(process.execPath, [CLI, 'up', '--data-dir', dataDir, '--json', ...SMALL], { env: localEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      for (let i = 0; i < 600 && !stdout.includes('"foreground": true'); i++) await sleep(100);
      expect(stdout, stderr).toContain('"foreground": true');
      // Not right after the start: PostgreSQL restarts a crashed archiver at most every 10 s.
      await sleep(12_000);
      const victim: postgres.Sql = connect(localUrl(layout, 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });
      const [row] = await victim<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      process.kill(row?.pid ?? 0, 'SIGKILL');
      await victim.end({ timeout: 1 }).catch(() => undefined);
      for (let i = 0; i < 100 && !stderr.includes('restarted after a crash'); i++) await sleep(200);
      expect(stderr).toContain('PostgreSQL restarted after a crash');
      expect(stderr).toContain('archive_timeout re-armed');
      const { seconds, segment } = await commitAndTimeArchive();
      expect(seconds, `segment ${segment}`).toBeLessThan(ARCHIVE_TIMEOUT_S + MARGIN_S);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
