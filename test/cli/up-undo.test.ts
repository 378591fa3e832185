import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localLayout } from '../../src/local/layout.ts';
import { localUrl } from '../../src/local/state.ts';
import { freeClusterPort } from '../helpers/ports.ts';
import { processAlive } from '../../src/platform/process-alive.ts';
import { expectExit, listening, parseJson, reachableTempDir, runCli, type RunResult } from '../helpers/cli.ts';
import { requirePooler } from '../helpers/skip.ts';

// A failed `up` takes back what it started and nothing else: the PgBouncer it started is stopped
// again, the PostgreSQL it started is stopped again, a PostgreSQL that was running before stays
// up, and the cluster (data, secrets.json, state.json) is kept for the next `up`. The failure here
// is the last step's: the query through PgBouncer, refused by a login event trigger that turns
// the app role away (PostgreSQL 17+), after the server, the roles, the migrations and PgBouncer
// are up.

const TIMEOUT = 90_000;
const TUNING = ['--memory', '512MiB', '--cpus', '2'];

interface Failure {
  ok: false;
  exitCode: number;
  error: { code: string; message: string; hint?: string };
}

describe('a failed up undoes the steps it did', () => {
  let root: string;
  let dataDir: string;
  let port: number;

  const pgbouncerPid = async (): Promise<number | undefined> => {
    const text = await readFile(join(dataDir, 'pgbouncer', 'pgbouncer.pid'), 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);
    return Number.isInteger(pid) ? pid : undefined;
  };
  /** Run SQL as the cluster's superuser in the application database. */
  const asSuperuser = async (run: (sql: ReturnType<typeof connect>) => Promise<unknown>): Promise<void> => {
    const sql = connect(localUrl(localLayout(dataDir), 'superuser', { database: 'jeex' }) ?? '', { max: 1, onnotice: () => {} });
    try {
      await run(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
  const expectPoolerCheckFailed = (result: RunResult): void => {
    const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    const doc = parseJson<Failure>(result);
    expect(doc, context).toMatchObject({ ok: false, exitCode: 33, error: { code: 'POOLER_START_FAILED' } });
    expect(doc.error.message, context).toContain('jeex_app may not log in (test)');
  };

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-undo-');
    dataDir = join(root, 'db');
    // A port whose +1000 neighbour (PgBouncer's) is free too.
    port = await freeClusterPort();
  });
  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  it('PostgreSQL was running: the PgBouncer this up started is stopped, PostgreSQL stays up', { timeout: TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    expectExit(await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--no-pooler', '--detach', '--json', ...TUNING]), 0);
    await asSuperuser(async (sql) => {
      await sql.unsafe(`
        CREATE FUNCTION refuse_app_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF current_user = 'jeex_app' THEN RAISE EXCEPTION 'jeex_app may not log in (test)'; END IF;
        END $$`);
      await sql.unsafe('CREATE EVENT TRIGGER refuse_app_login ON login EXECUTE FUNCTION refuse_app_login()');
    });

    const failed = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectPoolerCheckFailed(failed);
    // PgBouncer was started by this up (its pid file is left behind by a stop? then its process is gone).
    const pid = await pgbouncerPid();
    if (pid !== undefined) expect(processAlive(pid)).toBe(false);
    expect(await listening(port + 1000)).toBe(false);
    // PostgreSQL was not started by this up: it is still up.
    expect(await listening(port)).toBe(true);
  });

  it('PostgreSQL was stopped: this up stops both again, and keeps the cluster', { timeout: TIMEOUT }, async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    const failed = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectPoolerCheckFailed(failed);
    expect(await listening(port + 1000)).toBe(false);
    expect(await listening(port)).toBe(false);
    const down = await runCli(['down', '--data-dir', dataDir, '--json']);
    expect(parseJson(down)).toEqual({ ok: true, dataDir, stopped: false, poolerStopped: false });
    // The cluster, its passwords and state.json stay.
    for (const file of ['pgdata/PG_VERSION', 'secrets.json', 'state.json']) expect(existsSync(join(dataDir, file)), file).toBe(true);

    // Without the trigger the next up starts both on the same cluster.
    const fixed = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--no-pooler', ...TUNING]);
    expectExit(fixed, 0);
    await asSuperuser((sql) => sql.unsafe('DROP EVENT TRIGGER refuse_app_login'));
    const again = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', ...TUNING]);
    expectExit(again, 0);
    expect(parseJson(again)).toMatchObject({ ok: true, status: 'already-running', created: false, pooler: { status: 'started', port: port + 1000 } });
  });
});
