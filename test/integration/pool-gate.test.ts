import { afterEach, describe, expect, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import type { DbConfigInput } from '../../src/db/config.ts';
import { backendsOf, runningBackend, uniqueAppName, waitForBackends } from '../helpers/activity.ts';
import { refusal, rejection } from '../helpers/rejections.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

const t = useTestDatabase();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const clients: JeexDb[] = [];
function client(options: DbConfigInput): JeexDb {
  const made = createDb({ url: t.appUrl, ...options }, {});
  clients.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close(1)));
});

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

describe('acquisition: bounded queue and timeout', () => {
  it('a request that finds every connection busy fails after acquireTimeout with POOL_TIMEOUT and the pool state', async () => {
    const applicationName = uniqueAppName('gate_timeout');
    const { sql, pool } = client({ max: 2, acquireTimeout: 200, maxQueue: 5, applicationName });
    const long = [sql`SELECT pg_sleep(1)`, sql`SELECT pg_sleep(1)`].map((q) => Promise.resolve(q));
    // Both really run on the server, each on its own connection.
    await waitForBackends(t.admin, applicationName, (all) => all.filter((b) => b.state === 'active' && b.query.includes('pg_sleep')).length === 2);
    expect(pool()).toEqual({ max: 2, used: 2, pending: 0, timeouts: 0, open: 2 });

    const started = performance.now();
    const third = rejection(Promise.resolve(sql`SELECT 1`));
    await sleep(50);
    expect(pool()).toMatchObject({ used: 2, pending: 1 });
    const error = await third;
    const waited = performance.now() - started;

    expect(error.code).toBe('POOL_TIMEOUT');
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(800);
    expect(error.message).toContain('no database connection within 200 ms');
    expect(error.message).toContain('2/2 connections in use, 1 waiting (queue limit 5)');
    expect(error.message).toContain(`pool "${applicationName}@${t.name}"`);
    expect(pool()).toMatchObject({ used: 2, pending: 0, timeouts: 1 });

    await Promise.all(long);
    expect(pool()).toEqual({ max: 2, used: 0, pending: 0, timeouts: 1, open: 2 });
    // The pool works again.
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it('refuses at once when the queue is full, and the queued requests run in arrival order when slots free', async () => {
    const { sql, pool } = client({ max: 2, acquireTimeout: 10_000, maxQueue: 5, applicationName: uniqueAppName('gate_queue') });
    const long = [sql`SELECT pg_sleep(0.3)`, sql`SELECT pg_sleep(0.3)`].map((q) => Promise.resolve(q));
    await until(() => pool().used === 2);
    const finished: number[] = [];
    const queued = [1, 2, 3, 4, 5].map((n) => Promise.resolve(sql<{ n: number }[]>`SELECT ${n}::int AS n`).then(([row]) => finished.push(row?.n ?? -1)));
    // Awaiting a query is what starts it (postgres.js queries are lazy), a tick later.
    await until(() => pool().pending === 5);
    expect(pool()).toMatchObject({ used: 2, pending: 5 });

    const started = performance.now();
    const refused = await rejection(Promise.resolve(sql`SELECT 6`));
    expect(performance.now() - started).toBeLessThan(50);
    expect(refused.code).toBe('POOL_TIMEOUT');
    expect(refused.message).toContain('the wait queue is full');
    expect(refused.message).toContain('2/2 connections in use, 5 waiting (queue limit 5)');

    await Promise.all([...long, ...queued]);
    expect(finished.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(pool()).toMatchObject({ used: 0, pending: 0, timeouts: 1 });
  });

  it('hands free slots to waiting requests first-in, first-out', async () => {
    // One slot, so the order the gate grants is the order the server sees.
    const { sql, pool } = client({ max: 1, acquireTimeout: 10_000, applicationName: uniqueAppName('gate_fifo') });
    const blocker = Promise.resolve(sql`SELECT pg_sleep(0.2)`);
    await until(() => pool().used === 1);
    const order: number[] = [];
    const queued = Array.from({ length: 8 }, (_, i) =>
      Promise.resolve(sql<{ n: number; at: string }[]>`SELECT ${i}::int AS n, to_char(clock_timestamp(), 'HH24:MI:SS.US') AS at`).then(([row]) => {
        order.push(i);
        return row;
      }),
    );
    await until(() => pool().pending === 8);
    await blocker;
    const rows = await Promise.all(queued);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The server ran them in that order too.
    const times = rows.map((row) => row?.at ?? '');
    expect(times).toEqual([...times].sort());
  });

  it('a transaction holds one slot for its whole duration, even between its statements', async () => {
    const { sql, pool } = client({ max: 2, acquireTimeout: 5000, applicationName: uniqueAppName('gate_tx') });
    let inside!: () => void;
    const betweenStatements = new Promise<void>((resolve) => (inside = resolve));
    let finishTransaction!: () => void;
    const held = new Promise<void>((resolve) => (finishTransaction = resolve));
    const transaction = sql.begin(async (tx) => {
      await tx`SELECT 1`;
      inside();
      await held;
      return tx<{ n: number }[]>`SELECT 2 AS n`;
    });
    await betweenStatements;
    expect(pool()).toMatchObject({ used: 1, pending: 0 });

    // One slot is left: one query runs, the next waits for the transaction.
    const a = Promise.resolve(sql`SELECT pg_sleep(0.2)`);
    const b = Promise.resolve(sql<{ n: number }[]>`SELECT 3 AS n`);
    await sleep(50);
    expect(pool()).toMatchObject({ used: 2, pending: 1 });
    await a;
    expect(await b).toEqual([{ n: 3 }]);
    expect(pool()).toMatchObject({ used: 1, pending: 0 });

    finishTransaction();
    expect(await transaction).toEqual([{ n: 2 }]);
    expect(pool()).toMatchObject({ used: 0, pending: 0 });
  });

  it('a waiting transaction times out like a query', async () => {
    const { sql, pool } = client({ max: 1, acquireTimeout: 100, applicationName: uniqueAppName('gate_tx_wait') });
    const blocker = Promise.resolve(sql`SELECT pg_sleep(0.4)`);
    await until(() => pool().used === 1);
    let ran = false;
    const error = await rejection(sql.begin(() => (ran = true)));
    expect(error.code).toBe('POOL_TIMEOUT');
    expect(ran).toBe(false);
    await blocker;
  });
});

describe('client-side query timeout', () => {
  it('cancels the query on the server, answers QUERY_TIMEOUT and gives the slot back', async () => {
    const applicationName = uniqueAppName('gate_qt');
    const { sql, pool } = client({ max: 1, queryTimeout: 300, applicationName });
    const started = performance.now();
    const pending = rejection(Promise.resolve(sql`SELECT pg_sleep(2)`));
    const backend = await runningBackend(t.admin, applicationName, 'pg_sleep(2)');
    const error = await pending;
    const waited = performance.now() - started;
    expect(error.code).toBe('QUERY_TIMEOUT');
    expect(error.message).toContain('within 300 ms; the query was cancelled');
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(1500);

    // The server stopped it (the backend went idle long before pg_sleep's 2 s), on the same connection.
    const [after] = await waitForBackends(t.admin, applicationName, (all) => all.length === 1 && all[0]?.state === 'idle', 1000);
    expect(after?.pid).toBe(backend.pid);
    await until(() => pool().used === 0, 1000);
    const cancelledAt = performance.now() - started;
    expect(cancelledAt).toBeLessThan(1500);

    // The one connection serves the next query at once.
    const next = performance.now();
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    expect(performance.now() - next).toBeLessThan(250);
    expect(pool()).toMatchObject({ used: 0, pending: 0, open: 1 });
  });

  it('does not touch a query that answers in time', async () => {
    const { sql } = client({ max: 1, queryTimeout: 1000, applicationName: uniqueAppName('gate_qt_ok') });
    expect(await sql`SELECT pg_sleep(0.1), 7 AS n`).toEqual([{ pg_sleep: '', n: 7 }]);
  });
});

describe('the gate keeps postgres.js working', () => {
  it('fragments nested in a query are built, not run, and take no slot', async () => {
    const applicationName = uniqueAppName('gate_frag');
    // One slot: a fragment that waited for a slot itself would dead-lock its query.
    const { sql, pool } = client({ max: 1, acquireTimeout: 500, applicationName });
    const where = sql`n > ${1}`;
    const rows = await sql<{ n: number }[]>`SELECT n FROM generate_series(1, 3) AS n WHERE ${where} ORDER BY ${sql('n')}`;
    expect(rows).toEqual([{ n: 2 }, { n: 3 }]);
    const plus = (n: number) => sql`+ ${n}::int`;
    expect(await sql`SELECT 1 ${plus(2)} ${plus(3)} AS total`).toEqual([{ total: 6 }]);
    expect(await sql`SELECT ${sql.unsafe('40 + 2')} AS answer`).toEqual([{ answer: 42 }]);
    const empty = sql``;
    expect(await sql`SELECT 5 AS n ${empty}`).toEqual([{ n: 5 }]);
    expect(pool()).toMatchObject({ used: 0, pending: 0, timeouts: 0 });
    // Nothing ran a fragment on its own.
    expect((await backendsOf(t.admin, applicationName)).length).toBe(1);
  });

  it('Drizzle queries and transactions go through the gate', async () => {
    const { db, sql, pool } = client({ max: 1, acquireTimeout: 100, applicationName: uniqueAppName('gate_drizzle') });
    const blocker = Promise.resolve(sql`SELECT pg_sleep(0.4)`);
    await until(() => pool().used === 1);
    // Drizzle wraps driver errors (DrizzleQueryError); the cause is the gate's.
    expect((await refusal(db.execute('SELECT 1'))).code).toBe('POOL_TIMEOUT');
    expect((await refusal(db.transaction(async (tx) => tx.execute('SELECT 1')))).code).toBe('POOL_TIMEOUT');
    await blocker;
    expect(pool().timeouts).toBe(2);
    const rows = await db.transaction(async (tx) => tx.execute<{ n: number }>('SELECT 9 AS n'));
    expect([...rows]).toEqual([{ n: 9 }]);
  });
});
