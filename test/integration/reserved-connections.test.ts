import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState, type LocalRole } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';

// Issue 18: "reserved_connections 0 lets an app storm starve monitor/backup logins". A cluster of
// its own (`up`, max_connections 30, no PgBouncer), filled by the application's roles for real:
// the monitoring and backup roles must still log in, and health must still answer.

const MAX_CONNECTIONS = 30;
const failure = (promise: PromiseLike<unknown>) => Promise.resolve(promise).then(() => undefined, (e: unknown) => e as { code?: string; message?: string });

describe('a connection storm of the application roles', () => {
  let root: string;
  let layout: LocalLayout;
  let database: string;
  const opened: Sql[] = [];
  const client = (role: LocalRole) => {
    const url = localUrl(layout, role, { database });
    if (!url) throw new Error(`no URL for ${role}`);
    const sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    opened.push(sql);
    return sql;
  };
  /** Log in as `role` until the server refuses; how many got in, and the refusal. */
  const fill = async (role: LocalRole) => {
    for (let n = 0; n < MAX_CONNECTIONS + 5; n++) {
      const error = await failure(client(role)`SELECT 1`);
      if (error) return { n, error };
    }
    throw new Error(`${role} was never refused`);
  };

  beforeAll(async () => {
    root = await reachableTempDir('jeex-reserved-');
    const dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, maxConnections: MAX_CONNECTIONS, pooler: false });
    layout = localLayout(dataDir);
    database = readLocalState(layout)?.database ?? 'jeex';
  }, 120_000);
  afterAll(async () => {
    for (const sql of opened) await sql.end({ timeout: 1 }).catch(() => undefined);
    if (layout) await down({ dataDir: layout.root }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, 120_000);

  it('leaves slots to the monitoring and backup roles (reserved_connections, pg_use_reserved_connections)', { timeout: 120_000 }, async () => {
    const superuser = client('superuser'); // (connects at its first query, after the storm: a superuser slot)
    // The app role up to its own limit, then the read-only role until the server is full.
    const app = await fill('app');
    expect(app.error).toMatchObject({ code: '53300', message: expect.stringContaining('too many connections for role "jeex_app"') as string });
    const readonly = await fill('readonly');

    // During the storm, the operators still get in: health (as the monitor) sees it, a backup can start.
    const monitor = client('monitor');
    expect(await failure(monitor`SELECT 1`), 'the monitoring role logs in').toBeUndefined();
    const doc = await checkHealth(monitor, { env: {} });
    expect(doc.checks['postgresql:reachable']?.[0]).toMatchObject({ observedValue: true });
    expect(doc.checks['postgresql:connections']?.[0]).toMatchObject({ observedValue: MAX_CONNECTIONS - 3 - 3 + 1 }); // the storm and the monitor
    expect(['warn', 'fail']).toContain(doc.checks['postgresql:connectionUsage']?.[0]?.status);
    const backup = client('backup');
    expect(await backup<{ who: string }[]>`SELECT current_user AS who`).toEqual([{ who: 'jeex_backup' }]);
    // ... and the application's roles do not take the one reserved slot left (the read-only role is far below its own limit).
    expect(await failure(client('readonly')`SELECT 1`)).toMatchObject({ code: '53300', message: expect.stringContaining('pg_use_reserved_connections') as string });

    // What made room: 3 slots (a tenth of 30) that the application's roles may not take.
    const [server] = await superuser<{ max: number; superuserReserved: number; reserved: number }[]>`
      SELECT current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS "superuserReserved",
             current_setting('reserved_connections')::int AS reserved`;
    expect(server).toEqual({ max: MAX_CONNECTIONS, superuserReserved: 3, reserved: 3 });
    expect(readonly.error).toMatchObject({ code: '53300', message: expect.stringContaining('remaining connection slots are reserved for roles with privileges of the "pg_use_reserved_connections" role') as string });
    expect(app.n + readonly.n).toBe(MAX_CONNECTIONS - 3 - 3); // all but the superusers' 3 and the reserved 3
  });
});
