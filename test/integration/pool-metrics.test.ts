// The OpenTelemetry SDK is registered process-wide here; vitest runs each test file in its own
// process (pool: 'forks', isolate by default), so no other file sees it.
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import type { DbConfigInput } from '../../src/db/config.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { collectPoolerMetrics, poolerSnapshot } from '../../src/ops/pooler/metrics.ts';
import { runningBackend, uniqueAppName, waitForBackends } from '../helpers/activity.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { useGlobalTestMetrics } from '../helpers/metrics.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';

const reader = useGlobalTestMetrics();

const t = useTestDatabase();
const clients: JeexDb[] = [];
function client(options: DbConfigInput): JeexDb {
  const made = createDb({ url: t.appUrl, ...options }, {});
  clients.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close(1)));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function outcome(promise: PromiseLike<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return translateDbError(error).code;
  }
}

describe('client pool metrics (db.client.*) against a known load', () => {
  it('reports connections, waiting requests, timeouts and operations as they happened', async () => {
    const applicationName = uniqueAppName('metrics');
    const { sql, pool } = client({ max: 4, acquireTimeout: 300, maxQueue: 100, applicationName });
    const poolName = { 'db.client.connection.pool.name': `${applicationName}@${t.name}` };

    // Phase 1: four slow reads hold every connection; two more requests wait and time out.
    const blockers = Array.from({ length: 4 }, () => outcome(sql`SELECT pg_sleep(0.8)`));
    await waitForBackends(t.admin, applicationName, (all) => all.filter((b) => b.state === 'active').length === 4);
    const late = [outcome(sql`SELECT 1`), outcome(sql`SELECT 2`)];
    await sleep(50);
    const busy = await reader.snapshot();
    expect(busy.value('db.client.connection.max', poolName)).toBe(4);
    expect(busy.value('db.client.connection.count', { ...poolName, 'db.client.connection.state': 'used' })).toBe(4);
    expect(busy.value('db.client.connection.count', { ...poolName, 'db.client.connection.state': 'idle' })).toBe(0);
    expect(busy.value('db.client.connection.pending_requests', poolName)).toBe(2);
    const timedOut = (await Promise.all(late)).filter((code) => code === 'POOL_TIMEOUT').length;
    expect(timedOut).toBe(2);
    expect(await Promise.all(blockers)).toEqual(['ok', 'ok', 'ok', 'ok']);

    // Phase 2: fourteen quick operations at once on the four connections, one of them failing.
    const emails = Array.from({ length: 5 }, (_, i) => `metrics-${i}-${applicationName}@example.com`);
    const rows = emails.map((email) => rawUser(email, 'Metrics'));
    const noEmail = rawUser(`no-email-${applicationName}@example.com`, 'No email');
    const quick = [
      ...rows.map((u) => outcome(sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`)),
      ...Array.from({ length: 8 }, () => outcome(sql`SELECT id, email FROM users WHERE email_hash IN ${sql(rows.map((u) => u.email_hash))}`)),
      outcome(sql`INSERT INTO users (email, email_hash, name) VALUES (${null}, ${noEmail.email_hash}, ${noEmail.name})`),
    ];
    const results = await Promise.all(quick);
    expect(results.filter((r) => r === 'ok')).toHaveLength(13);
    expect(results.filter((r) => r === 'NOT_NULL_VIOLATION')).toHaveLength(1);

    const done = await reader.snapshot();
    const state = pool();
    expect(state).toMatchObject({ used: 0, pending: 0, timeouts: 2, open: 4 });
    expect(done.value('db.client.connection.pending_requests', poolName)).toBe(0);
    expect(done.value('db.client.connection.count', { ...poolName, 'db.client.connection.state': 'used' })).toBe(0);
    expect(done.value('db.client.connection.count', { ...poolName, 'db.client.connection.state': 'idle' })).toBe(4);
    expect(done.value('db.client.connection.timeouts', poolName)).toBe(timedOut);
    // One wait (and one use) per request that got a connection: 4 + 14.
    expect(done.histogram('db.client.connection.wait_time', poolName).count).toBe(18);
    expect(done.histogram('db.client.connection.use_time', poolName).count).toBe(18);
    // The blockers waited for nothing, and held their connection ~0.8 s.
    expect(done.histogram('db.client.connection.use_time', poolName).max).toBeGreaterThanOrEqual(0.75);
    // One create_time per connection opened, each a real login (well over 0, under the timeout).
    const created = done.histogram('db.client.connection.create_time', poolName);
    expect(created.count).toBe(state.open);
    expect(created.min).toBeGreaterThan(0);
    expect(created.max).toBeLessThan(10);

    const base = { 'db.system.name': 'postgresql', 'db.namespace': t.name };
    const operation = 'db.client.operation.duration';
    expect(done.histogram(operation, { ...base, 'db.operation.name': 'SELECT' }).count).toBe(4 + 8);
    expect(done.histogram(operation, { ...base, 'db.operation.name': 'SELECT', 'db.collection.name': 'users' }).count).toBe(8);
    expect(done.histogram(operation, { ...base, 'db.operation.name': 'INSERT', 'db.collection.name': 'users' }).count).toBe(6);
    const failed = done.points(operation, { 'error.type': '23502' });
    expect(failed).toHaveLength(1);
    expect(failed[0]?.attributes).toEqual({
      ...base,
      'db.operation.name': 'INSERT',
      'db.collection.name': 'users',
      'error.type': '23502',
      'db.response.status_code': '23502',
    });
    expect(done.points(operation).filter((p) => p.attributes['error.type'] !== undefined)).toHaveLength(1);
    // pg_sleep(0.8) took its time.
    expect(done.histogram(operation, { ...base, 'db.operation.name': 'SELECT' }).max).toBeGreaterThanOrEqual(0.75);
  });

  it('a query timeout is an operation with error.type QUERY_TIMEOUT and no status code', async () => {
    const applicationName = uniqueAppName('metrics_qt');
    const { sql } = client({ max: 1, queryTimeout: 200, applicationName });
    const poolName = { 'db.client.connection.pool.name': `${applicationName}@${t.name}` };
    expect(await outcome(sql`SELECT pg_sleep(1)`)).toBe('QUERY_TIMEOUT');
    const after = await reader.snapshot();
    const timedOut = after.points('db.client.operation.duration', { 'db.namespace': t.name, 'error.type': 'QUERY_TIMEOUT' });
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]?.attributes['db.response.status_code']).toBeUndefined();
    expect(after.histogram('db.client.operation.duration', { 'error.type': 'QUERY_TIMEOUT' }).max).toBeGreaterThanOrEqual(0.19);
    expect(after.histogram('db.client.operation.duration', { 'error.type': 'QUERY_TIMEOUT' }).max).toBeLessThan(0.9);
    // Not an acquisition timeout: the counter for this pool was never touched.
    expect(after.points('db.client.connection.timeouts', poolName)).toEqual([]);
    expect(after.value('db.client.connection.max', poolName)).toBe(1);
  });
});

describe('PgBouncer metrics (SHOW POOLS / SHOW STATS)', () => {
  let pooler: DedicatedPooler | undefined;
  beforeAll(async () => {
    // One server connection per pool, so a second client has to wait; stats every second.
    pooler = await startDedicatedPooler({ overrides: { default_pool_size: '1', reserve_pool_size: '0', min_pool_size: '0', stats_period: '1' } });
  });
  afterAll(async () => {
    await pooler?.remove();
  });

  it('reports waiting clients, server connections and transactions from the admin console', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const admin = poolerAdmin(pooler.consoleUrl);
    const scrapeErrors: string[] = [];
    const collector = collectPoolerMetrics(admin, { onError: (error) => scrapeErrors.push(error.code) });
    try {
      const applicationName = uniqueAppName('metrics_bouncer');
      const { sql } = client({ url: pooler.through(t.appUrl), pooler: 'pgbouncer', max: 4, applicationName });
      const app = inject('testServer').app.user;
      const pool = { 'db.namespace': t.name, user: app };
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      // Stats are refreshed every stats_period (1 s here): wait for the first transaction to show.
      let before = await reader.snapshot();
      for (let i = 0; i < 40 && before.points('pgbouncer.transactions', { 'db.namespace': t.name }).length === 0; i++) {
        await sleep(100);
        before = await reader.snapshot();
      }
      const transactionsBefore = before.value('pgbouncer.transactions', { 'db.namespace': t.name });
      const waitBefore = before.value('pgbouncer.wait_time', { 'db.namespace': t.name });

      // Three clients at once on a pool of one server connection: one runs, two wait.
      const load = Array.from({ length: 3 }, () => outcome(sql`SELECT pg_sleep(0.6)`));
      await runningBackend(t.admin, applicationName, 'pg_sleep(0.6)');
      await sleep(250);
      const busy = await reader.snapshot();
      expect(busy.value('pgbouncer.up')).toBe(1);
      expect(busy.value('pgbouncer.clients.waiting', pool)).toBe(2);
      expect(busy.value('pgbouncer.clients.active', pool)).toBe(1);
      expect(busy.value('pgbouncer.servers.active', pool)).toBe(1);
      expect(busy.value('pgbouncer.servers.idle', pool)).toBe(0);
      expect(busy.value('pgbouncer.clients.max_wait', pool)).toBeGreaterThanOrEqual(0.2);
      expect(busy.value('pgbouncer.clients.max_wait', pool)).toBeLessThan(1);
      // The admin console's own "pgbouncer" database is not an application pool.
      expect(busy.points('pgbouncer.clients.active', { 'db.namespace': 'pgbouncer' })).toEqual([]);
      expect(busy.points('pgbouncer.transactions', { 'db.namespace': 'pgbouncer' })).toEqual([]);

      const snapshot = await poolerSnapshot(admin);
      const row = snapshot.pools.find((p) => p.database === t.name && p.user === app);
      expect(row).toMatchObject({ clientsWaiting: 2, serversActive: 1, mode: 'transaction' });
      expect(snapshot.totals.clientsWaiting).toBe(2);
      expect(typeof snapshot.totals.maxWaitSeconds).toBe('number');

      expect(await Promise.all(load)).toEqual(['ok', 'ok', 'ok']);
      // The three transactions and the waits (about 0.6 s and 1.2 s) reach SHOW STATS.
      let after = await reader.snapshot();
      // Three statements, and the type lookup postgres.js runs on each of the two new connections.
      const expected = transactionsBefore + 3 + 2;
      for (let i = 0; i < 40 && after.value('pgbouncer.transactions', { 'db.namespace': t.name }) < expected; i++) {
        await sleep(100);
        after = await reader.snapshot();
      }
      expect(after.value('pgbouncer.transactions', { 'db.namespace': t.name })).toBe(expected);
      expect(after.value('pgbouncer.queries', { 'db.namespace': t.name })).toBeGreaterThanOrEqual(expected);
      const waited = after.value('pgbouncer.wait_time', { 'db.namespace': t.name }) - waitBefore;
      expect(waited).toBeGreaterThan(1.4);
      expect(waited).toBeLessThan(3);
      expect(after.value('pgbouncer.clients.waiting', pool)).toBe(0);
      expect(after.value('pgbouncer.servers.idle', pool) + after.value('pgbouncer.servers.active', pool)).toBe(1);
      expect(scrapeErrors).toEqual([]);

      // The console goes away: up turns 0 and the pool series are not exported with frozen values.
      await admin.end();
      const gone = await reader.snapshot({ fresh: true });
      expect(gone.value('pgbouncer.up')).toBe(0);
      expect(gone.points('pgbouncer.transactions', { 'db.namespace': t.name })).toEqual([]);
      expect(gone.points('pgbouncer.clients.waiting', pool)).toEqual([]);
      expect(scrapeErrors).toEqual(['CONNECTION_FAILED']);
    } finally {
      collector.close();
      await admin.end();
    }
  });
});
