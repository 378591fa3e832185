import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server/port.ts';

// drizzle.config.ts finds the local cluster `jeex-db up` started (JEEX_DB_DATA_DIR), so
// `npx drizzle-kit migrate` works with no DATABASE_URL.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const JOURNAL = join(ROOT, 'drizzle', 'meta', '_journal.json');
const MIGRATIONS = (JSON.parse(readFileSync(JOURNAL, 'utf8')) as { entries: unknown[] }).entries.length;
const TIMEOUT = 60_000;

interface RunResult {
  code: number | null;
  output: string;
}

function run(file: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.JEEX_DB_DATA_DIR;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const drizzleMigrate = (dataDir: string) => run('npx', ['drizzle-kit', 'migrate'], { JEEX_DB_DATA_DIR: dataDir });

describe('drizzle.config.ts and the local cluster', () => {
  let root: string;
  let dataDir: string;
  let migratorUrl: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'jeex-cli-drizzle-'));
    await chmod(root, 0o755);
    dataDir = join(root, 'db');
    const result = await run(process.execPath, [
      CLI, 'up', '--data-dir', dataDir, '--port', String(await freePort()), '--detach', '--json', '--memory', '512MiB', '--cpus', '2',
    ]);
    if (result.code !== 0) throw new Error(`setup: up failed (${result.code}):\n${result.output}`);
    const url = await run(process.execPath, [CLI, 'url', 'migrator', '--data-dir', dataDir]);
    migratorUrl = url.output.trim();
  }, TIMEOUT);

  afterAll(async () => {
    if (dataDir) await run(process.execPath, [CLI, 'down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('npx drizzle-kit migrate with JEEX_DB_DATA_DIR and no DATABASE_URL succeeds against it', { timeout: TIMEOUT }, async () => {
    const result = await drizzleMigrate(dataDir);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('migrations applied successfully');
    // `up` applied them already; drizzle-kit saw that in this cluster and applied nothing twice.
    const sql = postgres(migratorUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
      expect(row?.n).toBe(MIGRATIONS);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('fails once that cluster is down (it really connects there)', { timeout: TIMEOUT }, async () => {
    const down = await run(process.execPath, [CLI, 'down', '--data-dir', dataDir]);
    expect(down.code, down.output).toBe(0);
    const result = await drizzleMigrate(dataDir);
    expect(result.code, result.output).not.toBe(0);
    expect(result.output).not.toContain('migrations applied successfully');
  });

  it('fails with no local cluster in JEEX_DB_DATA_DIR and no DATABASE_URL', { timeout: TIMEOUT }, async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const result = await drizzleMigrate(empty);
    expect(result.code, result.output).not.toBe(0);
    expect(result.output).toMatch(/url/i);
  });
});
