import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { startMonitor, type MonitorOptions, type RunningMonitor } from '../../src/serve/monitor.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// /readyz and the PgBouncer alerts of `startMonitor` against a real PgBouncer of this file's own:
// saturated (readiness stays, /health warns), stopped (readiness goes), killed outside and inside
// the app's path (pgbouncer-down fires, and resolves once it is back).
const t = useTestDatabase();
const server = inject('testServer');

type Line = Record<string, unknown> & { alert?: string; state?: string };

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { logger: pino({ base: null }, { write: (text: string) => lines.push(JSON.parse(text) as Line) }), lines };
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function ownPooler(overrides?: Record<string, string>): Promise<DedicatedPooler> {
  const own = await startDedicatedPooler(overrides ? { overrides } : {});
  if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
  cleanups.push(() => own.remove());
  return own;
}

function client(options: Parameters<typeof createDb>[0]): JeexDb {
  const db = createDb(options, {});
  cleanups.push(() => db.close(1));
  return db;
}

async function monitorOn(own: DedicatedPooler, options: Partial<MonitorOptions> & ({ app: JeexDb } | { probe: JeexDb })): Promise<{ running: RunningMonitor; lines: Line[] }> {
  const { logger, lines } = capture();
  const monitorSql: postgres.Sql = connect(t.adminUrl, { max: 2, onnotice: () => {} });
  const console = poolerAdmin(own.consoleUrl);
  const running = await startMonitor({ port: 0, monitor: monitorSql, pooler: console, alerts: { logger, intervalMs: 300 }, telemetry: false, ...options });
  cleanups.push(async () => {
    await running.stop();
    await Promise.all([monitorSql.end({ timeout: 1 }), console.end({ timeout: 1 })]);
  });
  return { running, lines };
}

async function get(running: RunningMonitor, path: string): Promise<{ status: number; doc: HealthDocument }> {
  const response = await fetch(`${running.server.url}${path}`);
  return { status: response.status, doc: (await response.json()) as HealthDocument };
}

describe('serve probes and PgBouncer', () => {
  it('a saturated PgBouncer pool: /readyz stays 200 saying so while /health warns; PgBouncer stopped: /readyz 503', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler({ default_pool_size: '1', reserve_pool_size: '0', min_pool_size: '0', query_wait_timeout: '60' });
    const pooled = own.through(t.appUrl);
    const probe = client({ url: pooled, pooler: 'pgbouncer', max: 2, acquireTimeout: 2000, queryTimeout: 20_000 });
    const { running } = await monitorOn(own, { probe, alerts: false });
    expect((await get(running, '/readyz')).status).toBe(200);

    // Three clients hold and queue for the one server connection for 12 s.
    const sleepers = client({ url: pooled, pooler: 'pgbouncer', max: 3, queryTimeout: 30_000 });
    const sleeping = Promise.allSettled([0, 1, 2].map(() => sleepers.sql`SELECT pg_sleep(12)`));
    const console = poolerAdmin(own.consoleUrl);
    cleanups.push(() => console.end({ timeout: 1 }));
    await until('clients waiting in PgBouncer', async () => (await console.unsafe<{ cl_waiting: string }[]>('SHOW POOLS').simple()).some((p) => Number(p.cl_waiting) >= 2));
    await sleep(1600); // past the readiness cache

    const ready = await get(running, '/readyz');
    expect(ready.status).toBe(200); // before the fix: 503, every instance out at once
    expect(ready.doc.status).toBe('warn');
    expect(ready.doc.checks['readiness:saturated']?.[0]).toMatchObject({ status: 'warn', observedValue: true });
    expect(ready.doc.output).toMatch(/saturated, not down: PgBouncer's pool .* 1 server connection\(s\) busy and \d+ client\(s\) waiting/);
    const health = await get(running, '/health');
    expect(health.status).toBe(200);
    expect(health.doc.checks['pgbouncer:clientsWaiting']?.[0]).toMatchObject({ status: 'warn' });
    expect(health.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'pass', observedValue: true });
    expect(health.doc.checks['pool:waiting']).toBeUndefined(); // the probe's own pool is not judged

    await own.stop();
    await sleep(1600);
    const gone = await get(running, '/readyz');
    expect(gone.status).toBe(503);
    expect(gone.doc.checks['postgresql:reachable']?.[0]).toMatchObject({ status: 'fail', observedValue: false });
    await sleeping;
  });

  it('PgBouncer outside the app\'s path killed with SIGKILL: pgbouncer-down fires within one evaluation (/health only warns), and resolves once it is back', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const direct = client({ url: t.appUrl, max: 2 });
    const { running, lines } = await monitorOn(own, { app: direct });
    expect((await get(running, '/health')).doc.checks['pgbouncer:reachable']?.[0]?.observedValue).toBe(true);

    const pid = await own.pid();
    if (!pid) throw new Error('the dedicated PgBouncer is not running');
    process.kill(pid, 'SIGKILL');
    const killed = performance.now();
    const firing = await until('pgbouncer-down firing', () => lines.find((l) => l.alert === 'pgbouncer-down' && l.state === 'firing'));
    // Before the fix: never (the entry warns, and the rule wanted status fail).
    expect(firing).toMatchObject({ severity: 'critical', check: 'pgbouncer:reachable', observedValue: false });
    expect(performance.now() - killed).toBeLessThan(300 + 5000 + 1000); // one interval + one check (its timeout) + slack
    const health = await get(running, '/health');
    expect(health.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'warn', observedValue: false });
    expect(health.status).toBe(200);

    await own.start();
    const resolved = await until('pgbouncer-down resolved', () => lines.find((l) => l.alert === 'pgbouncer-down' && l.state === 'resolved'));
    expect(resolved).toMatchObject({ observedValue: true });
  });

  it('PgBouncer in the app\'s path killed with SIGKILL: pgbouncer-down fires within one evaluation, /health 503; restarted: resolved, /health 200', { timeout: 60_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const probe = client({ url: own.through(t.appUrl), pooler: 'pgbouncer', max: 2 });
    const { running, lines } = await monitorOn(own, { probe });
    expect((await get(running, '/health')).status).toBe(200);

    const pid = await own.pid();
    if (!pid) throw new Error('the dedicated PgBouncer is not running');
    process.kill(pid, 'SIGKILL');
    const killed = performance.now();
    const firing = await until('pgbouncer-down firing', () => lines.find((l) => l.alert === 'pgbouncer-down' && l.state === 'firing'));
    expect(firing).toMatchObject({ severity: 'critical', check: 'pgbouncer:reachable' });
    expect(performance.now() - killed).toBeLessThan(300 + 5000 + 1000);
    const health = await get(running, '/health');
    expect(health.status).toBe(503);
    expect(health.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'fail', observedValue: false });
    expect((await get(running, '/readyz')).status).toBe(503);

    await own.start();
    await until('pgbouncer-down resolved', () => lines.find((l) => l.alert === 'pgbouncer-down' && l.state === 'resolved'));
    const back = await until('/health 200 again', async () => {
      const got = await get(running, '/health');
      return got.status === 200 ? got : undefined;
    });
    expect(back.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'pass', observedValue: true });
  });
});
