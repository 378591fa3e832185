import { appendFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { checkHealth, type HealthOptions } from '../../src/ops/health/check-health.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { freePort } from '../../src/platform/port.ts';
import { runningBackend, uniqueAppName } from '../helpers/activity.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { PACKAGE_MIGRATIONS, ScratchMigrations } from '../helpers/migrations.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { withDatabase } from '../helpers/urls.ts';

const t = useTestDatabase();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The health check runs as the monitoring role `roles apply` makes (pg_monitor, the migration
// ledger, no application rows), as it would in production: not a superuser.
let monitor: Sql;
let maxConnections = 0;
beforeAll(async () => {
  monitor = connect(withDatabase(inject('testServer').adminUrl, t.name, inject('testServer').monitor), { max: 2, onnotice: () => {} });
  const [row] = await t.admin<{ max: number }[]>`SELECT current_setting('max_connections')::int AS max`;
  maxConnections = row?.max ?? 0;
});
afterAll(async () => {
  await monitor?.end();
});

/** checkHealth as the monitoring role, with no JEEX_HEALTH_* from the environment. */
const health = (options: HealthOptions = {}) => checkHealth(monitor, { env: {}, ...options });

function check(doc: HealthDocument, key: string): HealthCheck {
  const found = doc.checks[key]?.[0];
  if (!found) throw new Error(`no ${key} in ${JSON.stringify(doc, null, 2)}`);
  return found;
}
const num = (c: HealthCheck): number => {
  if (typeof c.observedValue !== 'number') throw new Error(`not a number: ${JSON.stringify(c)}`);
  return c.observedValue;
};

describe('checkHealth on a healthy database', () => {
  it('measures every check with real numbers, each with its status, time and unit', async () => {
    const doc = await health({ migrationsDir: PACKAGE_MIGRATIONS });
    expect(check(doc, 'postgresql:reachable')).toMatchObject({ observedValue: true, status: 'pass', componentId: t.name });
    const rtt = check(doc, 'postgresql:responseTime');
    expect(rtt.observedUnit).toBe('ms');
    expect(num(rtt)).toBeGreaterThan(0);
    expect(rtt.thresholds).toEqual({ warn: 100, fail: 1000 });
    // This connection at least, and no more than the server allows.
    expect(num(check(doc, 'postgresql:connections'))).toBeGreaterThanOrEqual(1);
    expect(num(check(doc, 'postgresql:connections'))).toBeLessThanOrEqual(maxConnections);
    expect(check(doc, 'postgresql:connectionUsage').thresholds).toEqual({ warn: 80, fail: 95 });
    expect(check(doc, 'postgresql:transactionAge')).toMatchObject({ observedValue: 0, status: 'pass', observedUnit: 's' });
    expect(check(doc, 'postgresql:idleInTransaction')).toMatchObject({ observedValue: 0, status: 'pass' });
    expect(check(doc, 'postgresql:recovery')).toMatchObject({ observedValue: false, status: 'pass' });
    expect(check(doc, 'postgresql:replicas')).toMatchObject({ observedValue: 0, status: 'pass' });
    expect(check(doc, 'migrations:pending')).toMatchObject({ observedValue: 0, status: 'pass', observedUnit: '{migration}' });
    expect(check(doc, 'postgresql:slowStatements')).toMatchObject({ observedValue: 0, status: 'pass' });
    const [size] = await t.admin<{ bytes: number }[]>`SELECT pg_database_size(current_database())::float8 AS bytes`;
    expect(check(doc, 'postgresql:databaseSize')).toMatchObject({ status: 'pass', observedUnit: 'By', componentId: t.name });
    expect(Math.abs(num(check(doc, 'postgresql:databaseSize')) - (size?.bytes ?? 0))).toBeLessThan(1024 * 1024);
    expect(check(doc, 'postgresql:databaseSize').thresholds).toBeUndefined();
    for (const list of Object.values(doc.checks)) {
      for (const c of list) {
        expect(['pass', 'warn', 'fail']).toContain(c.status);
        expect(new Date(c.time).toISOString()).toBe(c.time);
        if (c.status === 'pass') expect(c.output).toBeUndefined();
      }
    }
    // WAL archiving is checked only when archive_mode is on.
    const [archive] = await t.admin<{ mode: string }[]>`SELECT current_setting('archive_mode') AS mode`;
    if (archive?.mode === 'off') {
      expect(doc.checks['postgresql:archiveFailures']).toBeUndefined();
      expect(doc.notes).toContainEqual(expect.stringContaining('archive_mode is off'));
    }
    expect(doc.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('computes the cache hit ratio from pg_stat_database, and judges it only with enough blocks', async () => {
    await t.admin`SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid`;
    const cold = await health({ thresholds: { cacheHitMinBlocks: 1e12 } });
    const [stats] = await t.admin<{ hit: number; read: number }[]>`
      SELECT blks_hit::float8 AS hit, blks_read::float8 AS read FROM pg_stat_database WHERE datname = current_database()`;
    const expected = (stats?.hit ?? 0) / ((stats?.hit ?? 0) + (stats?.read ?? 0));
    const ratio = check(cold, 'postgresql:cacheHitRatio');
    expect(ratio).toMatchObject({ status: 'pass', observedUnit: '1', thresholds: { warn: 0.95 } });
    expect(Math.abs(num(ratio) - expected)).toBeLessThan(0.05);
    expect(cold.notes).toContainEqual(expect.stringMatching(/cacheHitRatio: only \d+ block accesses.*too few to judge/));

    // Judged (no minimum) against a limit of 1: anything read from outside shared_buffers warns.
    const judged = await health({ thresholds: { cacheHitMinBlocks: 0, cacheHitWarnRatio: 1 } });
    const value = num(check(judged, 'postgresql:cacheHitRatio'));
    expect(check(judged, 'postgresql:cacheHitRatio').status).toBe(value < 1 ? 'warn' : 'pass');
    if (value < 1) expect(check(judged, 'postgresql:cacheHitRatio').output).toMatch(/shared_buffers/);
  });
});

describe('checkHealth on provoked conditions', () => {
  it('an unreachable server: the whole document fails at once, postgresql:reachable false', async () => {
    const port = await freePort();
    const dead = connect(`postgres://nobody:secret-pw@127.0.0.1:${port}/nothing`, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      const started = Date.now();
      const doc = await checkHealth(dead, { env: {}, lastBackup: () => Promise.resolve(new Date()) });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(doc.status).toBe('fail');
      expect(check(doc, 'postgresql:reachable')).toMatchObject({ observedValue: false, status: 'fail' });
      expect(check(doc, 'postgresql:reachable').output).toMatch(/^PostgreSQL cannot be queried: .*ECONNREFUSED.*jeex-db up/);
      expect(JSON.stringify(doc)).not.toContain('secret-pw');
      // Nothing else of PostgreSQL is claimed; what does not need it is still measured.
      expect(Object.keys(doc.checks).sort()).toEqual(['backup:age', 'postgresql:reachable']);
      expect(doc.output).toMatch(/^postgresql:reachable: /);
    } finally {
      await dead.end();
    }
  });

  it('a transaction left idle, and one running long: warn, then fail with smaller limits', async () => {
    const tiny = { transactionAgeWarnSeconds: 0.5, transactionAgeFailSeconds: 600, idleInTransactionWarn: 1, idleInTransactionWarnSeconds: 0.5, idleInTransactionFailSeconds: 600 };
    const before = await health({ thresholds: tiny });
    expect(check(before, 'postgresql:transactionAge').status).toBe('pass');
    expect(check(before, 'postgresql:idleInTransaction').status).toBe('pass');

    const holder = connect(t.appUrl, { max: 1, onnotice: () => {} });
    const session = await holder.reserve();
    try {
      await session`BEGIN`;
      const [me] = await session<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      await sleep(1200);
      const idle = await health({ thresholds: tiny });
      expect(check(idle, 'postgresql:transactionAge').status).toBe('warn');
      expect(num(check(idle, 'postgresql:transactionAge'))).toBeGreaterThanOrEqual(1.1);
      expect(check(idle, 'postgresql:transactionAge').output).toContain(`pid ${me?.pid}`);
      expect(check(idle, 'postgresql:idleInTransaction')).toMatchObject({ observedValue: 1, status: 'warn', observedUnit: '{session}' });
      expect(check(idle, 'postgresql:idleInTransactionAge').status).toBe('warn');
      expect(num(check(idle, 'postgresql:idleInTransactionAge'))).toBeGreaterThanOrEqual(1.1);
      expect(check(idle, 'postgresql:idleInTransactionAge').output).toContain(`pg_terminate_backend(${me?.pid})`);
      expect(idle.status).not.toBe('pass');

      const failing = await health({ thresholds: { ...tiny, transactionAgeFailSeconds: 1, idleInTransactionFailSeconds: 1 } });
      expect(check(failing, 'postgresql:transactionAge').status).toBe('fail');
      expect(check(failing, 'postgresql:idleInTransactionAge').status).toBe('fail');
      expect(failing.status).toBe('fail');
      await session`ROLLBACK`;
    } finally {
      session.release();
      await holder.end();
    }

    // A transaction that is busy (not idle) is long, but nobody is idle in transaction.
    const runner = connect(t.appUrl, { max: 1, onnotice: () => {}, connection: { application_name: uniqueAppName('health_long') } });
    try {
      const running = runner.begin((tx) => tx`SELECT pg_sleep(1.5)`);
      await sleep(900);
      const busy = await health({ thresholds: tiny });
      expect(check(busy, 'postgresql:transactionAge').status).toBe('warn');
      expect(check(busy, 'postgresql:transactionAge').output).toMatch(/state active/);
      expect(check(busy, 'postgresql:idleInTransaction')).toMatchObject({ observedValue: 0, status: 'pass' });
      await running;
    } finally {
      await runner.end();
    }
  });

  it('connections crossing an overridden limit: pass, warn, fail', async () => {
    const opened = 5;
    const crowd = connect(t.appUrl, { max: opened, onnotice: () => {} });
    const held = await Promise.all(Array.from({ length: opened }, () => crowd.reserve()));
    try {
      // My five connections alone reach a limit of five (plus the health check's own).
      const share = (opened / maxConnections) * 100;
      const warned = await health({ thresholds: { connectionsWarnPercent: share, connectionsFailPercent: 100 } });
      expect(check(warned, 'postgresql:connections').status).toBe('warn');
      expect(num(check(warned, 'postgresql:connections'))).toBeGreaterThanOrEqual(opened + 1);
      expect(check(warned, 'postgresql:connections').thresholds).toEqual({ warn: opened, fail: maxConnections });
      expect(check(warned, 'postgresql:connectionUsage')).toMatchObject({ status: 'warn', observedUnit: '%' });
      expect(check(warned, 'postgresql:connectionUsage').output).toMatch(new RegExp(`of max_connections ${maxConnections} in use`));

      const failed = await health({ thresholds: { connectionsWarnPercent: share / 2, connectionsFailPercent: share } });
      expect(check(failed, 'postgresql:connections').status).toBe('fail');
      expect(failed.status).toBe('fail');

      const roomy = await health({ thresholds: { connectionsWarnPercent: 100, connectionsFailPercent: 100 } });
      expect(check(roomy, 'postgresql:connections').status).toBe('pass');
    } finally {
      for (const connection of held) connection.release();
      await crowd.end();
    }
  });

  it("the app pool saturated, with a request waiting", async () => {
    const app: JeexDb = createDb({ url: t.appUrl, max: 1, acquireTimeout: 5000 }, {});
    try {
      const applicationName = uniqueAppName('health_pool');
      const busy = createDb({ url: t.appUrl, max: 1, applicationName }, {});
      try {
        const first = busy.sql`SELECT pg_sleep(1)`.then(() => 'ok');
        await runningBackend(t.admin, applicationName, 'pg_sleep(1)');
        const second = busy.sql`SELECT 1`.then(() => 'ok');
        await sleep(50);
        expect(busy.pool()).toMatchObject({ used: 1, pending: 1, max: 1 });
        const doc = await health({ pool: busy.pool });
        expect(check(doc, 'pool:usage')).toMatchObject({ observedValue: 100, status: 'warn', observedUnit: '%', thresholds: { warn: 90 } });
        expect(check(doc, 'pool:waiting')).toMatchObject({ observedValue: 1, status: 'warn', observedUnit: '{request}' });
        expect(check(doc, 'pool:waiting').output).toMatch(/1 of 1 connections in use, 1 request\(s\) waiting/);
        const strict = await health({ pool: busy.pool, thresholds: { poolWaitingFail: 1 } });
        expect(check(strict, 'pool:waiting').status).toBe('fail');
        expect(await Promise.all([first, second])).toEqual(['ok', 'ok']);
        const after = await health({ pool: busy.pool });
        expect(check(after, 'pool:waiting')).toMatchObject({ observedValue: 0, status: 'pass' });
        expect(check(after, 'pool:usage')).toMatchObject({ observedValue: 0, status: 'pass' });
      } finally {
        await busy.close();
      }
    } finally {
      await app.close();
    }
  });

  it('a slow statement in pg_stat_statements beyond a small limit; without the extension, a warn saying how to enable it', async () => {
    // Statements are normalized (constants become $n, aliases do not count): the cast keeps
    // this one apart from the other pg_sleep calls of this file.
    await t.client.sql`SELECT pg_sleep(0.3)::text AS health_slow_marker`;
    const doc = await health({ thresholds: { slowStatementMs: 200 } });
    const slow = check(doc, 'postgresql:slowStatements');
    expect(slow).toMatchObject({ status: 'warn', observedUnit: '{statement}', componentId: t.name, thresholds: { warn: 1 } });
    expect(num(slow)).toBeGreaterThanOrEqual(1);
    expect(slow.output).toMatch(/statement\(s\) took more than 200 ms on average over the calls of the last \d+ s \(slowStatementWindowSeconds 300\): .*.*\d+(\.\d+)? ms mean over 1 call\(s\): SELECT pg_sleep\(\$1\)::text AS health_slow_marker/);
    const strict = await health({ thresholds: { slowStatementMs: 200, slowStatementsFail: 1 } });
    expect(check(strict, 'postgresql:slowStatements').status).toBe('fail');
    // Above the limit only counts: a 300 ms statement is not slow against 400 ms.
    const relaxed = check(await health({ thresholds: { slowStatementMs: 400 } }), 'postgresql:slowStatements');
    expect(relaxed.output ?? '').not.toContain('health_slow_marker');
    expect(check(await health({ thresholds: { slowStatementMs: 60_000 } }), 'postgresql:slowStatements')).toMatchObject({ observedValue: 0, status: 'pass' });

    await t.admin`DROP EXTENSION pg_stat_statements`;
    try {
      const missing = check(await health(), 'postgresql:slowStatements');
      expect(missing).toMatchObject({ status: 'warn', observedValue: null });
      expect(missing.output).toMatch(/not installed in database .*shared_preload_libraries.*CREATE EXTENSION pg_stat_statements/);
    } finally {
      await t.admin`CREATE EXTENSION pg_stat_statements`;
    }
  });

  it('migrations: one pending is a warn, an applied file that changed is a fail', async () => {
    const scratch = await ScratchMigrations.create();
    try {
      const tag = await scratch.add('health_extra', ['CREATE TABLE health_extra (id int)']);
      const pending = check(await health({ migrationsDir: scratch.dir }), 'migrations:pending');
      expect(pending).toMatchObject({ observedValue: 1, status: 'warn', componentId: t.name });
      expect(pending.output).toContain(tag);
      expect(pending.output).toContain('jeex-db migrate');

      const [first] = (await scratch.journal()).entries;
      await appendFile(scratch.file(first?.tag ?? ''), '\n-- edited after it was applied\n');
      const changed = await health({ migrationsDir: scratch.dir });
      expect(check(changed, 'migrations:pending').status).toBe('fail');
      expect(check(changed, 'migrations:pending').output).toMatch(/^\[MIGRATION_CHECKSUM_MISMATCH\] .*changed after it was applied/);
      expect(changed.status).toBe('fail');
    } finally {
      await scratch.remove();
    }
  });

  it('a check that cannot finish in time becomes a warn entry, the others still run', async () => {
    const locker = connect(t.adminUrl, { max: 1, onnotice: () => {} });
    const session = await locker.reserve();
    try {
      await session`BEGIN`;
      await session`LOCK TABLE jeex_migrations.ledger IN ACCESS EXCLUSIVE MODE`;
      const started = Date.now();
      const doc = await health({ migrationsDir: PACKAGE_MIGRATIONS, timeoutMs: 600 });
      expect(Date.now() - started).toBeLessThan(3000);
      const migrations = check(doc, 'migrations:pending');
      expect(migrations).toMatchObject({ status: 'warn', observedValue: null });
      expect(migrations.output).toMatch(/could not measure the migrations: reading the migration ledger did not answer within 600 ms.*pg_blocking_pids/);
      expect(check(doc, 'postgresql:reachable').observedValue).toBe(true);
      expect(check(doc, 'postgresql:databaseSize').status).toBe('pass');
    } finally {
      await session`ROLLBACK`;
      session.release();
      await locker.end();
    }
  });

  it('transaction ID age against an overridden share of 2^31, and a missing standby', async () => {
    for (let i = 0; i < 3; i++) await t.admin`SELECT txid_current()`;
    const oneXid = (1 / 2 ** 31) * 100;
    const defaults = await health();
    expect(check(defaults, 'postgresql:wraparound')).toMatchObject({ status: 'pass', observedUnit: '%', thresholds: { warn: 50, fail: 75 } });
    const [oldest] = await t.admin<{ age: number }[]>`SELECT max(age(datfrozenxid))::float8 AS age FROM pg_database`;
    expect(num(check(defaults, 'postgresql:transactionIdAge'))).toBeGreaterThanOrEqual(3);
    expect(num(check(defaults, 'postgresql:transactionIdAge'))).toBeLessThanOrEqual(oldest?.age ?? 0);
    const warned = await health({ thresholds: { xidAgeWarnPercent: oneXid } });
    expect(check(warned, 'postgresql:transactionIdAge').status).toBe('warn');
    expect(check(warned, 'postgresql:transactionIdAge').output).toMatch(/VACUUM \(FREEZE/);
    const failed = await health({ thresholds: { xidAgeWarnPercent: oneXid, xidAgeFailPercent: oneXid } });
    expect(check(failed, 'postgresql:wraparound').status).toBe('fail');

    const lonely = await health({ thresholds: { replicasMin: 1 } });
    expect(check(lonely, 'postgresql:replicas')).toMatchObject({ observedValue: 0, status: 'warn' });
    expect(check(lonely, 'postgresql:replicas').output).toMatch(/fewer than the 1 expected/);
  });

  it('database size against limits from code and from JEEX_HEALTH_* variables', async () => {
    const size = num(check(await health(), 'postgresql:databaseSize'));
    expect(check(await health({ thresholds: { databaseSizeWarnBytes: Math.floor(size / 2) } }), 'postgresql:databaseSize').status).toBe('warn');
    const fromEnv = await checkHealth(monitor, { env: { JEEX_HEALTH_DATABASE_SIZE_FAIL_BYTES: '1' } });
    expect(check(fromEnv, 'postgresql:databaseSize')).toMatchObject({ status: 'fail', thresholds: { fail: 1 } });
    const invalid = await checkHealth(monitor, { env: { JEEX_HEALTH_RESPONSE_TIME_WARN_MS: 'soon' } });
    expect(check(invalid, 'health:thresholds')).toMatchObject({ status: 'warn', observedValue: 1 });
    expect(check(invalid, 'health:thresholds').output).toMatch(/JEEX_HEALTH_RESPONSE_TIME_WARN_MS=soon/);
    expect(check(invalid, 'postgresql:responseTime').thresholds).toEqual({ warn: 100, fail: 1000 });
  });

  it('the last backup: recent passes, a day old warns, two days fail, none fails, an error warns', async () => {
    const now = new Date('2025-06-01T12:00:00Z');
    const ago = (hours: number) => () => Promise.resolve(new Date(now.getTime() - hours * 3600_000));
    const backup = async (lastBackup: HealthOptions['lastBackup']) => check(await health({ now: () => now, ...(lastBackup ? { lastBackup } : {}) }), 'backup:age');
    expect(await backup(ago(2))).toMatchObject({ status: 'pass', observedValue: 7200, observedUnit: 's' });
    expect(await backup(ago(30))).toMatchObject({ status: 'warn', thresholds: { warn: 90000, fail: 172800 } });
    expect(await backup(ago(50))).toMatchObject({ status: 'fail' });
    expect(await backup(() => Promise.resolve(undefined))).toMatchObject({ status: 'fail', observedValue: null });
    const broken = await backup(() => Promise.reject(new Error('bucket not found')));
    expect(broken.status).toBe('warn');
    expect(broken.output).toMatch(/could not measure the last backup: .*bucket not found/);
    expect((await health()).checks['backup:age']).toBeUndefined();
  });
});

describe('checkHealth with PgBouncer', () => {
  let pooler: DedicatedPooler | undefined;
  beforeAll(async () => {
    // One server connection per pool, so a second client has to wait.
    pooler = await startDedicatedPooler({ overrides: { default_pool_size: '1', reserve_pool_size: '0', min_pool_size: '0' } });
  });
  afterAll(async () => {
    await pooler?.remove();
  });

  it('clients waiting in PgBouncer and how long the oldest waited', async (ctx) => {
    requirePooler(ctx, inject('testServer'));
    if (!pooler) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const admin = poolerAdmin(pooler.consoleUrl);
    const applicationName = uniqueAppName('health_bouncer');
    const clients = connect(pooler.through(t.appUrl), { max: 3, prepare: false, onnotice: () => {}, connection: { application_name: applicationName } });
    try {
      const quiet = await health({ pooler: admin });
      expect(check(quiet, 'pgbouncer:clientsWaiting')).toMatchObject({ observedValue: 0, status: 'pass' });

      const load = Array.from({ length: 3 }, () => clients`SELECT pg_sleep(0.8)`.then(() => 'ok'));
      await runningBackend(t.admin, applicationName, 'pg_sleep(0.8)');
      await sleep(300);
      const doc = await health({ pooler: admin });
      expect(check(doc, 'pgbouncer:clientsWaiting')).toMatchObject({ observedValue: 2, status: 'warn', observedUnit: '{client}' });
      expect(check(doc, 'pgbouncer:clientsWaiting').output).toContain(`${t.name}/${inject('testServer').app.user}: 2 waiting`);
      const maxWait = check(doc, 'pgbouncer:maxWait');
      expect(maxWait.observedUnit).toBe('s');
      expect(num(maxWait)).toBeGreaterThanOrEqual(0.2);
      const strict = await health({ pooler: admin, thresholds: { poolerMaxWaitWarnSeconds: 0.05, poolerMaxWaitFailSeconds: 0.1 } });
      expect(check(strict, 'pgbouncer:maxWait').status).toBe('fail');
      expect(await Promise.all(load)).toEqual(['ok', 'ok', 'ok']);
    } finally {
      await clients.end();
      await admin.end();
    }
  });
});
