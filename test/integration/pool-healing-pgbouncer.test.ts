import { sql as sqlText } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RECONNECT_DELAYS_MS } from '../../src/db/gated-sql.ts';
import { runningBackend, terminate, uniqueAppName } from '../helpers/activity.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { failure, healingClients, healingEmail, watchCrashes } from '../helpers/healing.ts';
import { refusal } from '../helpers/rejections.ts';
import { poolerAdmin, showPools } from '../../src/ops/pooler/admin.ts';
import { startRelay } from '../helpers/relay.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';

// Each case starts a PgBouncer of its own (stopped, restarted or cut off from PostgreSQL on
// purpose); the run's PgBouncer is left alone.
const t = useTestDatabase();

const client = healingClients(() => t.appUrl);

describe('healing through a PgBouncer restart', () => {
  let pooler: DedicatedPooler | undefined;
  beforeAll(async () => {
    pooler = await startDedicatedPooler();
  });
  afterAll(async () => {
    await pooler?.remove();
  });

  it('fails fast while PgBouncer is down and works again once it is back on the same port', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const applicationName = uniqueAppName('heal_bouncer');
    const { sql, pool } = client({ url: pooler.through(t.appUrl), pooler: 'pgbouncer', max: 2, applicationName, connectTimeout: 2, queryTimeout: 5000 });
    await Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`]);
    expect(pool().open).toBe(2);

    await pooler.stop();
    // The client saw its connections close and nothing listens: a read is sent again while the
    // reconnect window lasts (RECONNECT_DELAYS_MS), then fails instead of hanging.
    const window = RECONNECT_DELAYS_MS.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      expect(await failure(sql`SELECT 1`)).toBe('CONNECTION_FAILED');
      expect(performance.now() - started).toBeGreaterThanOrEqual(window - 5);
      expect(performance.now() - started).toBeLessThan(window + 2500);
    }
    expect(pool()).toMatchObject({ used: 0, open: 0 });

    await pooler.start();
    const started = performance.now();
    const [row] = await sql<{ answer: number }[]>`SELECT 42 AS answer`;
    expect(row?.answer).toBe(42);
    expect(performance.now() - started).toBeLessThan(1500);
    // Both connections are usable again (each failed connect was recycled, none stuck).
    const both = await Promise.all([sql<{ n: number }[]>`SELECT 1 AS n FROM pg_sleep(0.1)`, sql<{ n: number }[]>`SELECT 2 AS n FROM pg_sleep(0.1)`]);
    expect(both).toEqual([[{ n: 1 }], [{ n: 2 }]]);
    const email = `heal-bouncer-${applicationName}@example.com`;
    const u = rawUser(email, 'Bouncer');
    await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
    expect(await healingEmail(t.admin, email)).toBe(1);
    expect(pool()).toMatchObject({ used: 0, pending: 0, open: 2 });
  });

  it('a write and a transaction sent while PgBouncer restarts never reached it: they are sent again and applied once', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const applicationName = uniqueAppName('heal_bouncer_write');
    const { sql, db } = client({ url: pooler.through(t.appUrl), pooler: 'pgbouncer', max: 2, applicationName, connectTimeout: 2 });
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    await pooler.stop();
    const email = `heal-write-${applicationName}@example.com`;
    const crashes = watchCrashes();
    try {
      const u = rawUser(email, 'Sent again');
      const write = Promise.resolve(sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`);
      const v = rawUser(`tx-${email}`, 'In a transaction');
      const transaction = db.transaction(async (tx) => {
        await tx.execute(sqlText`INSERT INTO users (id, email, email_hash, name) VALUES (${v.id}, ${v.email}, ${v.email_hash}, ${v.name})`);
        return 'committed';
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await pooler.start();
      await write;
      expect(await transaction).toBe('committed');
    } finally {
      crashes.stop();
    }
    expect(crashes.errors).toEqual([]);
    expect(await healingEmail(t.admin, email)).toBe(1);
    expect(await healingEmail(t.admin, `tx-${email}`)).toBe(1);
  });

  it('a read whose server connection is killed behind PgBouncer is retried and answers', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const applicationName = uniqueAppName('heal_bouncer_read');
    const { sql } = client({ url: pooler.through(t.appUrl), pooler: 'pgbouncer', max: 2, applicationName });
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    const read = Promise.resolve(sql<{ answer: number }[]>`SELECT 42 AS answer FROM pg_sleep(0.5)`);
    const victim = await runningBackend(t.admin, applicationName, 'pg_sleep(0.5)');
    await terminate(t.admin, [victim.pid]);
    expect(await read).toEqual([{ answer: 42 }]);
  });

  it('PgBouncer stopped while a new connection\'s array-type lookup waits in its queue: the query fails, the process does not crash', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    // One server connection: a second client logs in to PgBouncer, and postgres.js's own first
    // statement (the array-type lookup) waits in PgBouncer's queue behind the sleeper.
    const busy = await startDedicatedPooler({ overrides: { default_pool_size: '1', reserve_pool_size: '0', min_pool_size: '0', query_wait_timeout: '60' } });
    if (!busy) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const crashes = watchCrashes();
    try {
      const url = busy.through(t.appUrl);
      const holderName = uniqueAppName('heal_queue_holder');
      const { sql: holder } = client({ url, pooler: 'pgbouncer', max: 1, queryTimeout: 30_000, applicationName: holderName });
      const held = Promise.resolve(holder`SELECT pg_sleep(20)`).catch((error: unknown) => error);
      await runningBackend(t.admin, holderName, 'pg_sleep(20)');
      const { sql: waiter } = client({ url, pooler: 'pgbouncer', max: 1, queryTimeout: 30_000, applicationName: uniqueAppName('heal_queue_waiter') });
      const waiting = failure(waiter`SELECT 1`);
      const admin = poolerAdmin(busy.consoleUrl);
      try {
        const deadline = Date.now() + 10_000;
        while (!(await showPools(admin)).some((p) => Number(p.cl_waiting) >= 1)) {
          if (Date.now() > deadline) throw new Error('no client waited in PgBouncer');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await admin.end({ timeout: 1 });
      }
      await busy.stop();
      // Before the fix: the lookup was rejected with nobody listening (unhandledRejection, the
      // process exits); the query itself failed or reconnected.
      expect(['CONNECTION_CLOSED', 'CONNECTION_FAILED']).toContain(await waiting);
      await held;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
      await busy.remove();
    }
  });

  it('a new connection through a PgBouncer that lost PostgreSQL fails its query, without crashing the process', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    // PgBouncer -> a TCP relay -> PostgreSQL: closing the relay is the server becoming unreachable.
    const serverPort = Number(new URL(t.adminUrl).port || 5432);
    const relay = await startRelay(serverPort);
    const relayPort = relay.port;
    const lost = await startDedicatedPooler({ serverPort: relayPort, overrides: { query_wait_timeout: '2' } });
    if (!lost) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const crashes = watchCrashes();
    try {
      const url = lost.through(t.appUrl);
      // PgBouncer has met the server once, so it logs new clients in by itself from now on.
      const { sql: first } = client({ url, pooler: 'pgbouncer', max: 1, applicationName: uniqueAppName('heal_lost') });
      expect(await first`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      await relay.close();

      // A new client: the array-type lookup postgres.js runs first on a connection is what meets
      // PgBouncer's FATAL error; the query that waits for the connection gets it.
      const { sql } = client({ url, pooler: 'pgbouncer', max: 1, applicationName: uniqueAppName('heal_lost_new') });
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const error = await refusal(Promise.resolve(sql`SELECT 1`));
        expect(['CONNECTION_FAILED', 'POOL_TIMEOUT']).toContain(error.code);
        expect(error.message).toMatch(/PgBouncer/);
        expect(performance.now() - started).toBeLessThan(8000);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(crashes.errors).toEqual([]);
    } finally {
      crashes.stop();
      await lost.remove();
    }
  });
});
