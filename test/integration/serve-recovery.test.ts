import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries, type PgBinaries } from '../../src/cluster/binaries.ts';
import { startServer, stopServer } from '../../src/cluster/pg-ctl.ts';
import { connect } from '../../src/db/connect.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { freePort } from '../../src/platform/port.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { startMonitor, type RunningMonitor } from '../../src/serve/monitor.ts';
import { down } from '../../src/stack/down.ts';
import { up } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';

// PostgreSQL 18 of this file's own, stopped for real under a running `startMonitor` (the probe
// client serve uses, a short alert interval): database-unreachable fires at the first evaluation
// after the stop, and after the start the next evaluation is no longer fail.
const INTERVAL_MS = 500;
/** One check's limit (checkHealth's timeoutMs): an evaluation takes at most about that. */
const CHECK_MS = 5000;

type Line = Record<string, unknown> & { alert?: string; state?: string };

let dataDir: string;
let layout: LocalLayout;
let port: number;
let bin: PgBinaries;
let as: Awaited<ReturnType<typeof serverOsUser>>;
let monitorSql: postgres.Sql;
let probe: JeexDb;
let running: RunningMonitor;
const lines: Line[] = [];

beforeAll(async () => {
  dataDir = join(await reachableTempDir('jeex-test-serve-recovery-'), 'db');
  port = await freePort();
  await up({ dataDir, port, memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
  layout = localLayout(dataDir);
  bin = await findBinaries();
  as = await serverOsUser();
  const database = readLocalState(layout)?.database ?? 'jeex';
  const monitorUrl = localUrl(layout, 'monitor', { database });
  const appUrl = localUrl(layout, 'app', { database });
  if (!monitorUrl || !appUrl) throw new Error(`no local cluster in ${dataDir}`);
  monitorSql = connect(monitorUrl, { max: 2, onnotice: () => {}, connect_timeout: 5 });
  probe = createDb({ url: appUrl, max: 2, acquireTimeout: 2000, queryTimeout: 5000 }, {});
  const logger = pino({ base: null }, { write: (text: string) => lines.push({ ...(JSON.parse(text) as Line), at: performance.now() }) });
  running = await startMonitor({
    port: 0,
    probe,
    monitor: monitorSql,
    alerts: { logger, intervalMs: INTERVAL_MS },
    telemetry: false,
    // Before the probe was set apart, its probes queued during the outage made pool:operationP95
    // fail for a minute after it; from one operation on, so this file sees it at once.
    health: { timeoutMs: CHECK_MS, thresholds: { operationMinCount: 1 } },
  });
}, 120_000);

afterAll(async () => {
  await running?.stop();
  await Promise.all([probe?.close(1), monitorSql?.end({ timeout: 1 })]);
  if (dataDir) await down({ dataDir });
}, 60_000);

async function get(path: string): Promise<{ status: number; doc: HealthDocument }> {
  const response = await fetch(`${running.server.url}${path}`);
  return { status: response.status, doc: (await response.json()) as HealthDocument };
}

async function until<T>(what: string, probeFor: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probeFor();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('startMonitor across a real PostgreSQL stop and start', () => {
  it('database-unreachable fires at the first evaluation after the stop and resolves after the start; /health is pass again at the next evaluation', { timeout: 90_000 }, async () => {
    await until('/health 200', async () => (await get('/health')).status === 200);
    expect((await get('/readyz')).status).toBe(200);

    const stopping = performance.now();
    expect(await stopServer(bin, layout, as, 'fast')).toBe(true);
    const stopped = performance.now();
    const firing = await until('database-unreachable firing', () => lines.find((l) => l.alert === 'database-unreachable' && l.state === 'firing'));
    expect(firing).toMatchObject({ severity: 'critical', check: 'postgresql:reachable', observedValue: false });
    expect((firing.at as number) - stopped).toBeLessThan(INTERVAL_MS + CHECK_MS);
    expect((firing.at as number) - stopping).toBeGreaterThan(0);
    // While it is down: readiness 503 (it is not saturated: nothing answers), /health 503; the
    // probes keep coming, as a kubelet's do.
    await until('/readyz 503 (its last answer is reused for 1.5 s)', async () => (await get('/readyz')).status === 503, 5000);
    const outageEnd = Date.now() + 6000;
    while (Date.now() < outageEnd) {
      expect((await get('/readyz')).status).toBe(503);
      await sleep(300);
    }
    const during = await get('/health');
    expect(during.status).toBe(503);
    expect(during.doc.checks['postgresql:reachable']?.[0]).toMatchObject({ status: 'fail', observedValue: false });

    await startServer(bin, layout, { timeoutSeconds: 60, host: '127.0.0.1', port }, as);
    const started = performance.now();
    const resolved = await until('database-unreachable resolved', () => lines.find((l) => l.alert === 'database-unreachable' && l.state === 'resolved'));
    expect((resolved.at as number) - started).toBeLessThan(INTERVAL_MS + CHECK_MS);
    // The evaluation that resolved it is what /health serves: not fail, and it stays so while
    // the probes go on (before: pool:operationP95 failed from the queued probes).
    await until('/readyz 200', async () => (await get('/readyz')).status === 200, 5000);
    const settled = Date.now() + 5000;
    while (Date.now() < settled) {
      const health = await get('/health');
      expect(health.status, JSON.stringify(health.doc.output)).toBe(200);
      expect(health.doc.checks['pool:operationP95']).toBeUndefined();
      expect((await get('/readyz')).status).toBe(200);
      await sleep(300);
    }
  });
});
