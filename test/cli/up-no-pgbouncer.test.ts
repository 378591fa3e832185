import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeClusterPort } from '../helpers/ports.ts';
import { expectExit, listening, localEnv, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// A fresh machine: `npm ci && npm start` (`jeex-db up`) without the OS package pgbouncer. up
// still brings PostgreSQL up, says what is missing and how to get it, and the app URL points
// straight at PostgreSQL. JEEX_PGBOUNCER_BIN (src/ops/pooler/binary.ts) at a file that is not
// there hides the machine's pgbouncer: it is then the only place looked at.

const TIMEOUT = 90_000;
const TUNING = ['--memory', '512MiB', '--cpus', '2'];

interface UpJson {
  ok: boolean;
  status: string;
  urls: { app: string; appDirect: string };
  pooler: { status: string; reason?: string; hint?: string; port?: number };
  port: number;
  ports: { postgres: number; pgbouncer?: number };
}

describe('jeex-db up without PgBouncer', () => {
  let root: string;
  let dataDir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let missing: string;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-nopgb-');
    dataDir = join(root, 'db');
    missing = join(root, 'no-such-dir', 'pgbouncer');
    env = localEnv({ JEEX_PGBOUNCER_BIN: missing });
    port = await freeClusterPort();
  });
  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('up --json: PostgreSQL is up, pooler "absent" with what is missing and how to install it, the app URL is direct', { timeout: TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--json', ...TUNING], env);
    expectExit(result, 0);
    const doc = parseJson<UpJson>(result);
    expect(doc).toMatchObject({ ok: true, status: 'started', port, ports: { postgres: port } });
    expect(doc.ports.pgbouncer).toBeUndefined();
    expect(doc.pooler.status).toBe('absent');
    expect(doc.pooler.port).toBeUndefined();
    expect(doc.pooler.reason).toBe(`JEEX_PGBOUNCER_BIN=${missing} is not a working pgbouncer (no such file): the app URL points straight at PostgreSQL, without connection pooling`);
    for (const part of ['sudo apt-get install -y pgbouncer', 'Debian/Ubuntu', 'brew install pgbouncer', 'macOS', '--no-pooler', 'JEEX_PGBOUNCER_BIN']) expect(doc.pooler.hint).toContain(part);
    expect(doc.urls.app).toBe(doc.urls.appDirect);
    expect(doc.urls.app).toContain(`@127.0.0.1:${port}/jeex`);
    expect(await listening(port)).toBe(true);
    expect(await listening(port + 1000)).toBe(false);
    // `url app` (what a service is given) is the direct one too.
    const url = await runCli(['url', 'app', '--data-dir', dataDir], env);
    expectExit(url, 0);
    expect(url.stdout.trim()).toContain(`@127.0.0.1:${port}/jeex`);
  });

  it('human output: the app line says it goes straight to PostgreSQL; stderr says what is missing and the install commands', { timeout: TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', ...TUNING], env);
    expectExit(result, 0);
    expect(result.stdout).toMatch(new RegExp(`app +postgres://jeex_app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/jeex\\S* \\(straight to PostgreSQL: no PgBouncer\\)`));
    expect(result.stdout).not.toContain('app direct');
    expect(result.stderr).toContain(`PgBouncer: JEEX_PGBOUNCER_BIN=${missing} is not a working pgbouncer (no such file)`);
    expect(result.stderr).toMatch(/^fix: .*`sudo apt-get install -y pgbouncer` on Debian\/Ubuntu, `brew install pgbouncer` on macOS.*`jeex-db up --no-pooler`/m);
  });

  it('--no-pooler: pooler "disabled", no install hint', { timeout: TIMEOUT }, async () => {
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--no-pooler', ...TUNING], env);
    expectExit(result, 0);
    const doc = parseJson<UpJson>(result);
    expect(doc.pooler).toEqual({ status: 'disabled', reason: '--no-pooler: the app URL points straight at PostgreSQL' });
    const human = await runCli(['up', '--data-dir', dataDir, '--detach', '--no-pooler', ...TUNING], env);
    expectExit(human, 0);
    expect(human.stdout).toMatch(/app +postgres:\S+ \(straight to PostgreSQL: --no-pooler\)/);
    expect(human.stderr).not.toContain('apt-get');
  });
});
