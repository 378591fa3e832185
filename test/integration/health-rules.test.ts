import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { AlertEngine, type AlertTransition } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules, type AlertRule } from '../../src/ops/alerts/rules.ts';
import { checkHealth, type HealthOptions } from '../../src/ops/health/check-health.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { poolerAdmin } from '../../src/ops/pooler/admin.ts';
import { startDedicatedPooler } from '../helpers/dedicated-pooler.ts';
import { requirePooler, skipOrFail } from '../helpers/skip.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { withDatabase } from '../helpers/urls.ts';

// Default rules provoked for real on the run's server: a filling disk (a small tmpfs), PgBouncer
// pool exhaustion (a PgBouncer of our own with two server connections), slow statements that
// stop. Each rule's `for` is shortened to 0; the data is never faked.
const t = useTestDatabase();
const server = inject('testServer');
let monitor: Sql;

beforeAll(() => {
  monitor = connect(withDatabase(server.adminUrl, t.name, server.monitor), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await monitor?.end();
});

/** A default rule by name, with `for` shortened. */
function rule(name: string, forMs = 0): AlertRule {
  const found = defaultAlertRules.find((r) => r.name === name);
  if (!found) throw new Error(`no default rule ${name}`);
  return { ...found, for: forMs };
}

function engineOf(rules: AlertRule[]): AlertEngine {
  return new AlertEngine({ logger: pino({ level: 'silent' }), webhook: null, rules });
}

/**
 * Evaluate `engine` on fresh health documents every `everyMs` until `alert` makes the transition
 * `state`; the time it took (ms) and the transition.
 */
async function until(engine: AlertEngine, health: () => Promise<HealthDocument>, alert: string, state: AlertTransition['state'], timeoutMs = 20_000, everyMs = 200): Promise<{ ms: number; transition: AlertTransition; doc: HealthDocument }> {
  const begun = Date.now();
  const seen = history.get(engine) ?? [];
  history.set(engine, seen);
  for (;;) {
    // A transition of an earlier evaluation counts: two alerts may change at once.
    const earlier = seen.findIndex((tr) => tr.transition.alert === alert && tr.transition.state === state);
    if (earlier >= 0) {
      const [found] = seen.splice(earlier, 1);
      if (found) return { ms: Date.now() - begun, ...found };
    }
    const doc = await health();
    seen.push(...engine.evaluate(doc).map((transition) => ({ transition, doc })));
    if (seen.some((tr) => tr.transition.alert === alert && tr.transition.state === state)) continue;
    if (Date.now() - begun > timeoutMs) throw new Error(`${alert} did not become ${state} within ${timeoutMs} ms; last document: ${JSON.stringify(doc.checks)}`);
    await sleep(everyMs);
  }
}
const history = new WeakMap<AlertEngine, { transition: AlertTransition; doc: HealthDocument }[]>();

const entries = (doc: HealthDocument, key: string): HealthCheck[] => doc.checks[key] ?? [];
const byUnit = (doc: HealthDocument, key: string, unit: string): HealthCheck => {
  const found = entries(doc, key).find((e) => e.observedUnit === unit);
  if (!found) throw new Error(`no ${key} in ${unit}: ${JSON.stringify(doc.checks[key])}`);
  return found;
};

describe('disk-space-low and archive-disk-space-low (a 64 MiB tmpfs filled for real)', () => {
  let root: string | undefined;
  afterAll(async () => {
    if (!root) return;
    for (const dir of ['data', 'archive']) {
      try {
        execFileSync('umount', [join(root, dir)], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
    }
    await rm(root, { recursive: true, force: true });
  });

  it('fires when the free space falls under 15% (warn) and 5% (fail), and resolves when the file is gone', async (ctx) => {
    root = await mkdtemp(join(tmpdir(), 'jeex-disk-'));
    const dataDir = join(root, 'data');
    const archiveDir = join(root, 'archive');
    for (const dir of [dataDir, archiveDir]) {
      await mkdir(dir);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { stdio: 'pipe' });
      } catch (error) {
        skipOrFail(ctx, `cannot mount a tmpfs to fill (${(error as Error).message.split('\n')[0] ?? ''}); run the tests as root, or in a container with CAP_SYS_ADMIN`);
      }
    }
    const health = () => checkHealth(monitor, { env: {}, disks: { dataDir, archiveDir } });
    const engine = engineOf([rule('disk-space-low'), rule('archive-disk-space-low')]);

    const empty = await health();
    expect(byUnit(empty, 'disk:dataFree', '%')).toMatchObject({ status: 'pass', componentType: 'disk', componentId: dataDir, thresholds: { warn: 15, fail: 5 } });
    expect(byUnit(empty, 'disk:dataFree', '%').observedValue).toBeGreaterThan(99);
    expect(byUnit(empty, 'disk:archiveFree', 'By').observedValue).toBe(64 * 2 ** 20);
    expect(engine.evaluate(empty)).toEqual([]);

    // 56 MiB of 64: 12.5% free, a warn; the archive's disk stays empty.
    const filler = join(dataDir, 'filler');
    await writeFile(filler, Buffer.alloc(56 * 2 ** 20, 1));
    const warned = await until(engine, health, 'disk-space-low', 'firing');
    expect(byUnit(warned.doc, 'disk:dataFree', '%')).toMatchObject({ status: 'warn', observedValue: 12.5 });
    expect(warned.transition.summary).toMatch(new RegExp(`^Disk space low under the data directory ${dataDir} \\(12\\.5 % free\\): 0\\.0\\d GiB free of 0\\.06 GiB \\(12\\.5%\\) on the filesystem of ${dataDir}: when it is full PostgreSQL stops`));
    expect(byUnit(warned.doc, 'disk:archiveFree', '%').status).toBe('pass');
    console.log(`disk-space-low: firing ${warned.ms} ms after the data disk reached 12.5% free (evaluations every 200 ms)`);

    // 62 MiB of 64 on the archive: 3.1% free, a fail; bytes judged too once a limit is set.
    await writeFile(join(archiveDir, 'filler'), Buffer.alloc(62 * 2 ** 20, 1));
    const failed = await until(engine, health, 'archive-disk-space-low', 'firing');
    expect(byUnit(failed.doc, 'disk:archiveFree', '%')).toMatchObject({ status: 'fail' });
    expect(byUnit(failed.doc, 'disk:archiveFree', '%').output).toMatch(/when it is full archiving fails/);
    const bytes = await checkHealth(monitor, { env: { JEEX_HEALTH_DISK_FREE_FAIL_BYTES: '16MB', JEEX_HEALTH_DISK_FREE_WARN_PERCENT: 'off', JEEX_HEALTH_DISK_FREE_FAIL_PERCENT: 'off' }, disks: { dataDir } });
    expect(byUnit(bytes, 'disk:dataFree', 'By')).toMatchObject({ status: 'fail', thresholds: { fail: 16 * 2 ** 20 } });
    expect(byUnit(bytes, 'disk:dataFree', '%')).toMatchObject({ status: 'pass' });

    await rm(filler);
    const resolved = await until(engine, health, 'disk-space-low', 'resolved');
    expect(byUnit(resolved.doc, 'disk:dataFree', '%').status).toBe('pass');
    expect(engine.active().map((a) => a.alert)).toEqual(['archive-disk-space-low']);
    console.log(`disk-space-low: resolved ${resolved.ms} ms after the file was removed`);
  });
});

describe('pgbouncer-clients-waiting and pgbouncer-max-wait (real pool exhaustion)', () => {
  it('six clients on two server connections: both fire, and resolve once the queue drains', async (ctx) => {
    requirePooler(ctx, server);
    const own = await startDedicatedPooler({ overrides: { default_pool_size: '2', min_pool_size: '0', reserve_pool_size: '0' } });
    if (!own) throw new Error('the binary is there, but the dedicated PgBouncer did not start');
    const admin = poolerAdmin(own.consoleUrl);
    const clients = connect(own.through(t.appUrl), { max: 6, onnotice: () => {}, prepare: false });
    try {
      const health = () => checkHealth(monitor, { env: {}, pooler: admin });
      const engine = engineOf([rule('pgbouncer-clients-waiting'), rule('pgbouncer-max-wait')]);
      const calm = await health();
      expect(entries(calm, 'pgbouncer:clientsWaiting')[0]).toMatchObject({ observedValue: 0, status: 'pass' });
      expect(engine.evaluate(calm)).toEqual([]);

      const begun = Date.now();
      const load = Promise.all(Array.from({ length: 6 }, () => clients`SELECT pg_sleep(2.5)`));
      const waiting = await until(engine, health, 'pgbouncer-clients-waiting', 'firing', 10_000, 100);
      expect(waiting.transition.observedValue).toBeGreaterThanOrEqual(1);
      expect(waiting.transition.summary).toMatch(/client\(s\) have waited in PgBouncer for a minute: \d+ client\(s\) wait in PgBouncer \(.*: \d+ waiting, 2 server connection\(s\) busy\): every server connection is busy/);
      console.log(`pgbouncer-clients-waiting: firing ${Date.now() - begun} ms after 6 clients started on 2 server connections`);
      const maxWait = await until(engine, health, 'pgbouncer-max-wait', 'firing', 10_000, 100);
      expect(maxWait.transition.observedValue).toBeGreaterThanOrEqual(1);
      console.log(`pgbouncer-max-wait: firing ${Date.now() - begun} ms after the clients started (warn at 1 s of waiting)`);

      await load;
      const drained = Date.now();
      await until(engine, health, 'pgbouncer-clients-waiting', 'resolved', 10_000, 100);
      await until(engine, health, 'pgbouncer-max-wait', 'resolved', 10_000, 100);
      expect(engine.active()).toEqual([]);
      console.log(`pgbouncer-*: resolved ${Date.now() - drained} ms after the queue drained`);
    } finally {
      await Promise.all([clients.end({ timeout: 1 }), admin.end({ timeout: 1 })]);
      await own.remove();
    }
  });
});

describe('slow-statements over a window', () => {
  it('fires on slow calls of the last window and resolves by itself once they stop, without pg_stat_statements_reset()', async () => {
    const options: HealthOptions = { env: {}, thresholds: { slowStatementMs: 200, slowStatementWindowSeconds: 3 } };
    const health = () => checkHealth(monitor, options);
    const engine = engineOf([rule('slow-statements')]);
    // A client of its own: the window's snapshots are kept per client.
    const first = await checkHealth(connectOnce(), options);
    expect(first.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^postgresql:slowStatements: judged the means since the last SELECT pg_stat_statements_reset\(\) \(no earlier check/)]));

    await health(); // the baseline
    await t.client.sql`SELECT pg_sleep(0.3)::text AS windowed_slow_marker`;
    const fired = await until(engine, health, 'slow-statements', 'firing', 5_000, 200);
    const entry = entries(fired.doc, 'postgresql:slowStatements')[0];
    expect(entry?.status).toBe('warn');
    expect(entry?.output).toMatch(/^1 statement\(s\) took more than 200 ms on average over the calls of the last [0-3] s \(slowStatementWindowSeconds 3\): \d+(\.\d+)? ms mean over 1 call\(s\): SELECT pg_sleep\(\$1\)::text AS windowed_slow_marker\. EXPLAIN/);

    // Fast calls of the same statement later do not dilute it: the window forgets the slow ones.
    const stopped = Date.now();
    const resolved = await until(engine, health, 'slow-statements', 'resolved', 10_000, 250);
    const ms = Date.now() - stopped;
    expect(ms).toBeLessThan(5_000);
    expect(entries(resolved.doc, 'postgresql:slowStatements')[0]).toMatchObject({ observedValue: 0, status: 'pass' });
    // pg_stat_statements still holds the slow mean: only the window made it pass.
    const [row] = await t.admin<{ mean: number }[]>`SELECT max(mean_exec_time) AS mean FROM pg_stat_statements WHERE query LIKE '%windowed_slow_marker%'`;
    expect(row?.mean).toBeGreaterThan(200);
    console.log(`slow-statements: resolved ${ms} ms after the slow statement ran (window 3 s, checks every 250 ms)`);
  });
});

const onceClients: Sql[] = [];
afterAll(async () => {
  await Promise.all(onceClients.map((c) => c.end({ timeout: 1 })));
});
function connectOnce(): Sql {
  const sql = connect(withDatabase(server.adminUrl, t.name, server.monitor), { max: 1, onnotice: () => {} });
  onceClients.push(sql);
  return sql;
}
