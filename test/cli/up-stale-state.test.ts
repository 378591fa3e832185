import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { expectExit, listening, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// `up` believes what the running server says over what state.json remembers: a port edited in
// state.json, or a postmaster.pid left behind whose pid another program now has, is noticed at
// once and said, where the earlier code waited the whole start timeout (60 s) for a server that
// was not there.

const TIMEOUT = 120_000;
/** Far below the 60 s start timeout the earlier code waited out; generous for a loaded machine. */
const PROMPT_MS = 15_000;
const SMALL = ['--memory', '512MiB', '--cpus', '2', '--no-pooler'];

interface UpJson {
  ok: boolean;
  status: string;
  port: number;
  notes?: string[];
  error?: { code: string; message: string; hint?: string };
}

describe('up with state that disagrees with the cluster', () => {
  let root: string;
  let dataDir: string;
  let layout: LocalLayout;
  let port: number;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-stale-');
    dataDir = join(root, 'db');
    layout = localLayout(dataDir);
    port = await freePort();
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...SMALL]);
    if (result.code !== 0) throw new Error(`setup: up failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  }, TIMEOUT);

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('a running cluster, state.json naming another port: up answers at once on the real port and corrects state.json', { timeout: TIMEOUT }, async () => {
    const other = await freePort();
    const state = JSON.parse(await readFile(layout.stateFile, 'utf8')) as { port: number };
    await writeFile(layout.stateFile, JSON.stringify({ ...state, port: other }, null, 2));

    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
    expectExit(result, 0);
    expect(result.ms).toBeLessThan(PROMPT_MS);
    const doc = parseJson<UpJson>(result);
    expect(doc).toMatchObject({ ok: true, status: 'already-running', port });
    const notes = doc.notes?.join('\n') ?? '';
    expect(notes).toContain(`said port ${other}, but PostgreSQL`);
    expect(notes).toContain(`listens on ${port}`);
    expect(notes).toContain(`jeex-db up --port ${other}`);
    expect(readLocalState(layout)?.port).toBe(port);
    expect((await runCli(['url', 'app', '--data-dir', dataDir])).stdout).toContain(`:${port}/`);
  });

  it('a stopped cluster whose postmaster.pid names a live program that is not PostgreSQL: up says so at once, not after 60 s', { timeout: TIMEOUT }, async () => {
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    // What a reboot leaves: the file of a server that died, its pid since taken by another program
    // of the server's OS user (whose processes pg_ctl and the postmaster can signal).
    const as = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) } : {};
    const squatter: ChildProcess = spawn('sleep', ['300'], { stdio: 'ignore', ...as });
    const pidFile = join(layout.pgdata, 'postmaster.pid');
    try {
      await writeFile(pidFile, `${squatter.pid}\n${layout.pgdata}\n1700000000\n${port}\n\n127.0.0.1\n  5418001     32768\nready   \n`);
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
      const context = `exit ${result.code}\n${result.stdout}\n${result.stderr}`;
      expect(result.ms, context).toBeLessThan(PROMPT_MS);
      expect(result.code, context).toBe(14);
      const doc = parseJson<UpJson>(result);
      expect(doc.error?.code).toBe('SERVER_START_FAILED');
      expect(doc.error?.message).toContain(`names pid ${squatter.pid}, which is now \`sleep\``);
      expect(doc.error?.hint).toContain(`remove ${pidFile}`);
      expect(existsSync(pidFile)).toBe(true); // removing it is the user's call
      expect(await listening(port)).toBe(false);
    } finally {
      squatter.kill('SIGKILL');
    }
    // Once the file is gone, the cluster starts again.
    await rm(pidFile, { force: true });
    const again = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...SMALL]);
    expectExit(again, 0);
    expect(parseJson<UpJson>(again)).toMatchObject({ status: 'started', port });
  });
});
