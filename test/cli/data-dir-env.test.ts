import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/port.ts';
import { ROOT, expectExit, localEnv, parseJson, reachableTempDir, run, runCli } from '../helpers/cli.ts';

// JEEX_DB_DATA_DIR alone moves every command, and the library, to the same local cluster;
// --data-dir on the line beats it, down to a drizzle.config.ts the migration commands read.

const TIMEOUT = 90_000;

/** createDb() of the built package, in a process of its own with `env`: the server's port and the URL's source. */
async function createDbIn(env: NodeJS.ProcessEnv): Promise<{ port: number; source: string }> {
  const script = `
    const { createDb } = await import(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
    const { resolveDbConfig } = await import(${JSON.stringify(join(ROOT, 'dist', 'db', 'config.js'))});
    const client = createDb({ max: 1, connectTimeout: 5 });
    try {
      const [row] = await client.sql\`SELECT inet_server_port() AS port\`;
      process.stdout.write(JSON.stringify({ port: row.port, source: resolveDbConfig().source }));
    } finally {
      await client.close();
    }`;
  const result = await run(process.execPath, ['--input-type=module', '-e', script], { env });
  expectExit(result, 0);
  return parseJson(result);
}

describe('JEEX_DB_DATA_DIR and --data-dir', () => {
  let root: string;
  let dataDir: string;
  let decoy: string;
  let port: number;
  const withVariable = (dir: string) => localEnv({ JEEX_DB_DATA_DIR: dir });

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-data-dir-');
    dataDir = join(root, 'x');
    decoy = join(root, 'decoy');
    port = await freePort();
  });

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('JEEX_DB_DATA_DIR=<dir> jeex-db up --detach puts the cluster in <dir>', { timeout: TIMEOUT }, async () => {
    const result = await runCli(['up', '--detach', '--json', '--port', String(port), '--memory', '512MiB', '--cpus', '2'], withVariable(dataDir));
    expectExit(result, 0);
    expect(parseJson(result)).toMatchObject({ ok: true, status: 'started', created: true, port, dataDir });
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { port: number };
    expect(state.port).toBe(port);
  });

  it('createDb() with the same variable connects to it', { timeout: TIMEOUT }, async () => {
    expect(await createDbIn(withVariable(dataDir))).toEqual({ port, source: 'local' });
  });

  it('migrate, status, plan, url and health find it with only the variable', { timeout: TIMEOUT }, async () => {
    const env = withVariable(dataDir);
    const status = await runCli(['status', '--json'], env);
    expectExit(status, 0);
    expect(parseJson(status)).toMatchObject({ upToDate: true, pending: [] });
    const migrate = await runCli(['migrate', '--json'], env);
    expectExit(migrate, 0);
    expect(parseJson(migrate)).toMatchObject({ ok: true, upToDate: true, applied: [] });
    const plan = await runCli(['plan', '--json', '--no-lint'], env);
    expectExit(plan, 0);
    expect(parseJson(plan)).toMatchObject({ ok: true, migrations: [] });
    const url = await runCli(['url', 'migrator', '--direct', '--json'], env);
    expectExit(url, 0);
    expect(new URL(parseJson<{ url: string }>(url).url).port).toBe(String(port));
    const health = await runCli(['health', '--json', '--no-migrations'], env);
    expect(health.code, health.stderr).not.toBe(2);
    expect(parseJson<{ checks: object }>(health).checks).toBeTypeOf('object');
  });

  it('--data-dir beats the variable, also for the drizzle.config.ts the migration commands read', { timeout: TIMEOUT }, async () => {
    // A decoy cluster: the same files, pointing at a port where nothing listens.
    const dead = await freePort();
    await mkdir(decoy, { recursive: true });
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { port: number; pooler?: { port: number } };
    await writeFile(join(decoy, 'state.json'), JSON.stringify({ ...state, port: dead, ...(state.pooler ? { pooler: { ...state.pooler, port: dead } } : {}) }));
    await writeFile(join(decoy, 'secrets.json'), await readFile(join(dataDir, 'secrets.json')), { mode: 0o600 });
    await chmod(join(decoy, 'secrets.json'), 0o600);

    // The decoy is honoured when it is all there is (so the runs below could fail)...
    const fooled = await runCli(['status', '--json'], withVariable(decoy));
    expect(fooled.code, fooled.stdout).not.toBe(0);
    expect(fooled.stderr).toContain(String(dead));

    // ...and loses to --data-dir, though this repository's drizzle.config.ts reads the variable.
    for (const command of [['status'], ['migrate'], ['plan', '--no-lint'], ['url', 'migrator', '--direct']]) {
      const result = await runCli([...command, '--json', '--data-dir', dataDir], withVariable(decoy));
      expectExit(result, 0);
    }
    const url = await runCli(['url', 'app', '--direct', '--json', '--data-dir', dataDir], withVariable(decoy));
    expect(new URL(parseJson<{ url: string }>(url).url).port).toBe(String(port));
  });

  it('jeex-db down with only the variable stops it', { timeout: TIMEOUT }, async () => {
    const stopped = await runCli(['down', '--json'], withVariable(dataDir));
    expectExit(stopped, 0);
    expect(parseJson(stopped)).toMatchObject({ ok: true, dataDir, stopped: true });
  });
});
