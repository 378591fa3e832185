import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/port.ts';
import { ROOT, localEnv, reachableTempDir, run, runCli } from '../helpers/cli.ts';

// drizzle.config.ts finds the local cluster `jeex-db up` started (JEEX_DB_DATA_DIR), so
// `npx drizzle-kit migrate` works with no DATABASE_URL.

const JOURNAL = join(ROOT, 'drizzle', 'meta', '_journal.json');
const MIGRATIONS = (JSON.parse(readFileSync(JOURNAL, 'utf8')) as { entries: unknown[] }).entries.length;
const TIMEOUT = 60_000;

/** drizzle-kit's messages go to both streams; the tests read them together. */
async function drizzleMigrate(dataDir: string): Promise<{ code: number | null; output: string }> {
  const result = await run('npx', ['drizzle-kit', 'migrate'], { env: localEnv({ JEEX_DB_DATA_DIR: dataDir }) });
  return { code: result.code, output: result.stdout + result.stderr };
}
const output = (result: { stdout: string; stderr: string }) => result.stdout + result.stderr;

describe('drizzle.config.ts and the local cluster', () => {
  let root: string;
  let dataDir: string;
  let migratorUrl: string;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-drizzle-');
    dataDir = join(root, 'db');
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(await freePort()), '--detach', '--json', '--memory', '512MiB', '--cpus', '2']);
    if (result.code !== 0) throw new Error(`setup: up failed (${result.code}):\n${output(result)}`);
    migratorUrl = (await runCli(['url', 'migrator', '--data-dir', dataDir])).stdout.trim();
  }, TIMEOUT);

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('npx drizzle-kit migrate with JEEX_DB_DATA_DIR and no DATABASE_URL succeeds against it', { timeout: TIMEOUT }, async () => {
    const result = await drizzleMigrate(dataDir);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('migrations applied successfully');
    // `up` applied them already; drizzle-kit saw that in this cluster and applied nothing twice.
    const sql = connect(migratorUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
      expect(row?.n).toBe(MIGRATIONS);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('fails once that cluster is down (it really connects there)', { timeout: TIMEOUT }, async () => {
    const down = await runCli(['down', '--data-dir', dataDir]);
    expect(down.code, output(down)).toBe(0);
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

  it('a damaged secrets.json: drizzle-kit says which file and how to repair it, and prints no password', { timeout: TIMEOUT }, async () => {
    const dir = join(root, 'damaged');
    await mkdir(dir);
    const password = 'QuotedByJsonParse-0123456789abcdef';
    // Truncated right after a password: JSON.parse's own message would quote it.
    await writeFile(join(dir, 'secrets.json'), `{\n  "version": 1,\n  "superuser": { "user": "postgres", "password": "${password}"`);
    await writeFile(join(dir, 'state.json'), JSON.stringify({ version: 1, pgMajor: 18, host: '127.0.0.1', port: 5999, database: 'jeex', roles: { superuser: 'postgres', migrator: 'jeex_migrator', app: 'jeex_app' } }));
    const result = await drizzleMigrate(dir);
    expect(result.code, result.output).not.toBe(0);
    expect(result.output).toContain(`[LOCAL_STATE_DAMAGED] ${join(dir, 'secrets.json')} is damaged`);
    expect(result.output).toContain('fix: secrets.json holds the role passwords');
    for (let i = 0; i + 8 <= password.length; i++) expect(result.output).not.toContain(password.slice(i, i + 8));
  });
});
