import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { startMonitor, type RunningMonitor } from '../../src/serve/monitor.ts';
import { startDedicatedPooler, type DedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { healingClients } from '../helpers/healing.ts';
import { requirePooler } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// What the health server and its alerts say when the real PgBouncer is killed with SIGKILL:
// with nothing restarting it, and under the supervisor `serve` runs.
const t = useTestDatabase();
const client = healingClients(() => t.appUrl);
const server = inject('testServer');

type Line = Record<string, unknown> & { event?: string; alert?: string; state?: string };

/** A pino logger whose lines are kept, parsed. */
function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { logger: pino({ base: null }, { write: (text: string) => lines.push(JSON.parse(text) as Line) }), lines };
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
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
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function ownPooler(): Promise<DedicatedPooler> {
  const own = await startDedicatedPooler();
  if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
  cleanups.push(() => own.remove());
  return own;
}

async function kill(own: DedicatedPooler): Promise<number> {
  const pid = await own.pid();
  if (!pid) throw new Error('the dedicated PgBouncer is not running');
  process.kill(pid, 'SIGKILL');
  return pid;
}

describe('health and alerts for PgBouncer', () => {
  async function monitorWith(own: DedicatedPooler, options: { supervise?: pino.Logger } = {}): Promise<{ running: RunningMonitor; lines: Line[]; get: () => Promise<{ status: number; doc: HealthDocument }> }> {
    const { logger, lines } = capture();
    const app = client({ url: own.through(t.appUrl), pooler: 'pgbouncer', max: 2 });
    const monitorSql: postgres.Sql = connect(t.adminUrl, { max: 2, onnotice: () => {} });
    const console = poolerAdmin(own.consoleUrl);
    const as = await serverOsUser();
    const running = await startMonitor({
      port: 0,
      app,
      monitor: monitorSql,
      pooler: console,
      alerts: { logger, intervalMs: 200 },
      telemetry: false,
      ...(options.supervise ? { superviseLocalPooler: { dir: own.dir, logger: options.supervise, pollMs: 100, ...(as ? { as } : {}) } } : {}),
    });
    cleanups.push(async () => {
      await running.stop();
      await Promise.all([monitorSql.end({ timeout: 1 }), console.end({ timeout: 1 })]);
    });
    const get = async () => {
      const response = await fetch(`${running.server.url}/health`);
      return { status: response.status, doc: (await response.json()) as HealthDocument };
    };
    return { running, lines, get };
  }

  it('PgBouncer killed with SIGKILL: pgbouncer:reachable fails, /health is 503 and the pgbouncer-down alert fires', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const { lines, get } = await monitorWith(own);
    const before = await get();
    expect(before.doc.checks['pgbouncer:clientsWaiting']?.[0]?.status).toBe('pass');

    await kill(own);
    // The first document that sees PgBouncer's console gone (before the fix: a warn entry
    // "could not measure PgBouncer's pools", and 200).
    const after = await until('a health document that sees it down', async () => {
      const got = await get();
      return got.doc.checks['pgbouncer:reachable']?.[0]?.observedValue === false || got.doc.checks['pgbouncer:clientsWaiting']?.[0]?.status === 'warn' ? got : undefined;
    });
    expect(after.status).toBe(503);
    expect(after.doc.status).toBe('fail');
    expect(after.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'fail', componentType: 'pgbouncer' });
    expect(after.doc.checks['pgbouncer:reachable']?.[0]?.output).toMatch(/PgBouncer does not answer .*the app's connections go through it.*`jeex-db up`/);
    const firing = await until('the pgbouncer-down alert', () => lines.find((l) => l.alert === 'pgbouncer-down' && l.state === 'firing'));
    expect(firing).toMatchObject({ severity: 'critical', check: 'pgbouncer:reachable' });
    expect(before.doc.checks['pgbouncer:reachable']?.[0]).toMatchObject({ status: 'pass', observedValue: true });
  });

  it('PgBouncer killed with SIGKILL under serve\'s supervisor: restarted, pgbouncer:restarts warns and the pgbouncer-restarted alert fires', { timeout: 30_000 }, async (ctx) => {
    requirePooler(ctx, server);
    const own = await ownPooler();
    const supervision = capture();
    const { lines, get } = await monitorWith(own, { supervise: supervision.logger });
    const killed = await kill(own);
    // Back on its port within seconds (before the fix: never).
    await until('PgBouncer back', async () => {
      const pid = await own.pid();
      return pid !== undefined && pid !== killed;
    });
    await until('the restart line', () => supervision.lines.find((l) => l.event === 'pgbouncer.restarted'));
    const firing = await until('the pgbouncer-restarted alert', () => lines.find((l) => l.alert === 'pgbouncer-restarted' && l.state === 'firing'));
    expect(firing).toMatchObject({ severity: 'warning', check: 'pgbouncer:restarts' });
    expect(JSON.stringify(firing)).toMatch(/killed by SIGKILL/);
    const doc = await until('a document with the restart', async () => {
      const got = await get();
      return got.doc.checks['pgbouncer:restarts']?.[0]?.observedValue === 1 && got.doc.checks['pgbouncer:reachable']?.[0]?.observedValue === true ? got : undefined;
    });
    expect(doc.doc.checks['pgbouncer:restarts']?.[0]).toMatchObject({ status: 'warn' });
    expect(await own.pid()).not.toBe(killed);
  });
});
