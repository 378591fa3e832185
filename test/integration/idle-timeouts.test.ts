import pg from 'pg';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../../src/migrate/runner.ts';
import { startDedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { createRoleFixture, type RoleFixture } from '../helpers/roles.ts';
import { requirePooler } from '../helpers/skip.ts';
import { createTestDatabase } from '../helpers/test-db.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A node-postgres client (it reports the server's FATAL on an idle connection as an 'error'
 * event with the SQLSTATE; postgres.js only says CONNECTION_CLOSED) and what ended it.
 */
async function watchedClient(url: string): Promise<{ client: pg.Client; ended: Promise<{ code?: string; message: string } | undefined> }> {
  const client = new pg.Client({ connectionString: url });
  const ended = new Promise<{ code?: string; message: string } | undefined>((resolve) => {
    let first: { code?: string; message: string } | undefined;
    client.on('error', (error: Error & { code?: string }) => {
      first ??= { ...(error.code ? { code: error.code } : {}), message: error.message };
    });
    client.on('end', () => resolve(first));
  });
  await client.connect();
  return { client, ended };
}

// SEC-003: sessions idle for the configured time are closed by the server (and by PgBouncer for
// its clients). The tests use 1 s instead of 15 min, on roles of their own.
describe('idle timeouts', () => {
  let fixture: RoleFixture;

  beforeAll(async () => {
    ({ fixture } = await createRoleFixture({ idleSessionTimeoutMs: 1000, idleInTransactionTimeoutMs: 1000, auditReads: false }));
  });
  afterAll(async () => {
    await fixture?.remove();
  });

  it('the server closes a session idle longer than idle_session_timeout: the client gets SQLSTATE 57P05', async () => {
    const { client, ended } = await watchedClient(fixture.url('app'));
    const [row] = (await client.query<{ idle_session_timeout: string }>('SHOW idle_session_timeout')).rows;
    expect(row?.idle_session_timeout).toBe('1s');
    const started = Date.now();
    const reason = await Promise.race([ended, sleep(10_000).then(() => ({ message: 'still open after 10 s' }))]);
    expect(reason).toMatchObject({ code: '57P05', message: 'terminating connection due to idle-session timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('and one idle inside a transaction longer than idle_in_transaction_session_timeout: SQLSTATE 25P03', async () => {
    const { client, ended } = await watchedClient(fixture.url('readonly'));
    await client.query('BEGIN');
    await client.query('SELECT 1');
    const reason = await Promise.race([ended, sleep(10_000).then(() => ({ message: 'still open after 10 s' }))]);
    expect(reason).toMatchObject({ code: '25P03', message: 'terminating connection due to idle-in-transaction timeout' });
  });

  it('a session that keeps working is not closed', async () => {
    const { client } = await watchedClient(fixture.url('monitor'));
    try {
      for (let i = 0; i < 6; i++) {
        await client.query('SELECT 1');
        await sleep(400);
      }
    } finally {
      await client.end();
    }
  });

  it('the backup role is exempt on purpose: a base backup sits idle between pg_backup_start and pg_backup_stop', async () => {
    const { client } = await watchedClient(fixture.url('backup'));
    try {
      const [row] = (await client.query<{ idle: string; tx: string }>("SELECT current_setting('idle_session_timeout') AS idle, current_setting('idle_in_transaction_session_timeout') AS tx")).rows;
      expect(row).toEqual({ idle: '0', tx: '0' });
      await sleep(1500);
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('migrations longer than the idle timeout run through, holding the migration lock throughout', async () => {
    const scratch = await ScratchMigrations.create();
    // A migration that takes 2.5 s while the lock session idles (the role's timeout is 1 s).
    const sql = connect(fixture.url('migrator'), { max: 2, onnotice: () => {}, connection: { application_name: 'idle-test' } });
    try {
      await scratch.add('slow', ['SELECT pg_sleep(2.5);']);
      const running = migrate(sql, { migrationsDir: scratch.dir, restorePoint: false });
      // Well past the timeout, while the slow migration runs: the lock session must still hold the lock.
      await sleep(2000);
      const [held] = await fixture.admin<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%(migration lock)'`;
      const result = await running;
      expect(result.applied.at(-1)?.name).toMatch(/_slow$/);
      expect(held?.n).toBe(1);
    } finally {
      await sql.end({ timeout: 1 });
      await scratch.remove();
    }
  });
});

describe('PgBouncer closes its idle clients (client_idle_timeout)', () => {
  it('a client idle longer than client_idle_timeout is disconnected with "client_idle_timeout"', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    const pooler = await startDedicatedPooler({ overrides: { client_idle_timeout: '1' } });
    if (!pooler) throw new Error('PgBouncer did not start');
    const db = await createTestDatabase();
    try {
      const { client, ended } = await watchedClient(pooler.through(db.appUrl));
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      const reason = await Promise.race([ended, sleep(10_000).then(() => ({ message: 'still open after 10 s' }))]);
      expect(reason).toMatchObject({ code: '08P01', message: 'client_idle_timeout' });
    } finally {
      await db.drop();
      await pooler.remove();
    }
  });
});
