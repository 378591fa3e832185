import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import pino from 'pino';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localLayout } from '../../src/local/layout.ts';
import { localUrl } from '../../src/local/state.ts';
import { AlertEngine, type AlertTransition } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules } from '../../src/ops/alerts/rules.ts';
import { checkHealth, type HealthOptions } from '../../src/ops/health/check-health.ts';
import { registerServerMetrics } from '../../src/ops/telemetry/server-metrics.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { createStandby, type StandbyResult } from '../../src/stack/standby.ts';
import { down, up } from '../../src/stack/up.ts';
import { startBackupCluster, type BackupCluster } from '../helpers/backup-cluster.ts';
import { TestMetricReader } from '../helpers/metrics.ts';

// Replication health seen from a real hot standby (createStandby: slot, base backup, streaming
// over TLS) and from its primary, as the monitoring role (pg_monitor) on each. The last test
// stops the primary: the standby must stop passing, warn, then fail.

const CLUSTER_TIMEOUT = 180_000;
let primary: BackupCluster;
let standby: StandbyResult;
let standbyDir: string;
let onPrimary: Sql;
let onStandby: Sql;
/** Superuser on the standby (pg_wal_replay_pause). */
let standbySuper: Sql;
const clients: Sql[] = [];

const open = (dataDir: string, role: 'monitor' | 'app' | 'superuser'): Sql => {
  const url = localUrl(localLayout(dataDir), role, { database: primary.database, direct: true });
  if (!url) throw new Error(`no ${role} URL for ${dataDir}`);
  const sql = connect(url, { max: 2, onnotice: () => {} });
  clients.push(sql);
  return sql;
};

beforeAll(async () => {
  primary = await startBackupCluster('jeex-health-standby-');
  standbyDir = join(primary.root, 'standby');
  standby = await createStandby({ dataDir: standbyDir, from: primary.dataDir, pooler: false });
  onPrimary = open(primary.dataDir, 'monitor');
  onStandby = open(standbyDir, 'monitor');
  standbySuper = open(standbyDir, 'superuser');
  await primary.sql`CREATE TABLE lag_probe (id serial PRIMARY KEY, payload text)`;
}, CLUSTER_TIMEOUT);

afterAll(async () => {
  for (const sql of clients) await sql.end({ timeout: 2 }).catch(() => undefined);
  await primary?.sql.end({ timeout: 2 }).catch(() => undefined);
  if (standbyDir) await down({ dataDir: standbyDir }).catch(() => undefined);
  if (primary) {
    await down({ dataDir: primary.dataDir }).catch(() => undefined);
    await rm(primary.root, { recursive: true, force: true });
  }
}, CLUSTER_TIMEOUT);

const health = (sql: Sql, options: HealthOptions = {}) => checkHealth(sql, { env: {}, ...options });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function check(doc: HealthDocument, key: string, componentId?: string): HealthCheck {
  const found = (doc.checks[key] ?? []).find((e) => componentId === undefined || e.componentId === componentId);
  if (!found) throw new Error(`no ${key}${componentId ? ` for ${componentId}` : ''} in ${JSON.stringify(doc, null, 2)}`);
  return found;
}
const num = (c: HealthCheck): number => {
  if (typeof c.observedValue !== 'number') throw new Error(`not a number: ${JSON.stringify(c)}`);
  return c.observedValue;
};
const REPLICATION_KEYS = ['postgresql:walReceiver', 'postgresql:walReceiverMessageAge', 'postgresql:replicationLag', 'postgresql:replicationLagBytes', 'postgresql:replicas', 'postgresql:replicationSlots'];
const replicationAlerts = defaultAlertRules.filter((rule) => REPLICATION_KEYS.includes(rule.check) || rule.check === 'postgresql:synchronousStandbys');

function engine() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { engine: new AlertEngine({ logger, webhook: null, rules: replicationAlerts }), lines };
}

/** Wait until the standby has replayed the primary's current position. */
async function caughtUp(): Promise<void> {
  const [{ lsn } = { lsn: '' }] = await primary.sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  for (let i = 0; i < 200; i++) {
    const [row] = await onStandby<{ done: boolean }[]>`SELECT pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn AS done`;
    if (row?.done) return;
    await sleep(50);
  }
  throw new Error(`the standby did not replay up to ${lsn} within 10 s`);
}

describe('replication health with a streaming standby', () => {
  it('streaming: both sides pass with a small lag, and no replication alert fires', async () => {
    await primary.sql`INSERT INTO lag_probe (payload) SELECT repeat('x', 200) FROM generate_series(1, 5000)`;
    await caughtUp();
    const doc = await health(onStandby);
    expect(check(doc, 'postgresql:recovery').observedValue).toBe(true);
    expect(check(doc, 'postgresql:walReceiver')).toMatchObject({ observedValue: 'streaming', status: 'pass', componentId: `127.0.0.1:${standby.primary.port}` });
    const age = check(doc, 'postgresql:walReceiverMessageAge');
    expect(age).toMatchObject({ status: 'pass', observedUnit: 's', thresholds: { warn: 40, fail: 120 } });
    expect(num(age)).toBeLessThan(40);
    const lag = check(doc, 'postgresql:replicationLag');
    expect(lag).toMatchObject({ status: 'pass', observedUnit: 's', componentId: 'this standby', thresholds: { warn: 30, fail: 300 } });
    expect(num(lag)).toBeLessThan(5);
    expect(check(doc, 'postgresql:replicationLagBytes')).toMatchObject({ observedValue: 0, status: 'pass', observedUnit: 'By' });
    // A standby has no standbys of its own to count.
    expect(doc.checks['postgresql:replicas']).toBeUndefined();

    const main = await health(onPrimary);
    expect(check(main, 'postgresql:replicas')).toMatchObject({ observedValue: 1, status: 'pass', thresholds: { warn: 1 } });
    const seen = check(main, 'postgresql:replicationLag', `${standby.name}@127.0.0.1`);
    expect(seen).toMatchObject({ status: 'pass', observedUnit: 's' });
    expect(num(seen)).toBeLessThan(5);
    expect(num(check(main, 'postgresql:replicationLagBytes', `${standby.name}@127.0.0.1`))).toBeGreaterThanOrEqual(0);
    expect(check(main, 'postgresql:replicationSlots', standby.slot)).toMatchObject({ observedValue: 'reserved', status: 'pass' });
    expect(main.checks['postgresql:walReceiver']).toBeUndefined();

    const { engine: alerts } = engine();
    const t0 = Date.now();
    expect([...alerts.evaluate(doc, t0), ...alerts.evaluate(main, t0), ...alerts.evaluate(doc, t0 + 120_000), ...alerts.evaluate(main, t0 + 120_000)]).toEqual([]);
  });

  it('replay paused: lag in bytes and seconds (bounded by the last check that saw it caught up, not the idle time before), and the > 5 s alert on both sides', async () => {
    // Idle for a while: the last replayed transaction gets old although nothing is behind.
    await sleep(4000);
    const idle = await health(onStandby);
    expect(check(idle, 'postgresql:replicationLag')).toMatchObject({ observedValue: 0, status: 'pass' });
    // Paused, replay falls behind even an idle primary (its checkpoints and snapshots are WAL too).
    await standbySuper`SELECT pg_wal_replay_pause()`;
    try {

      await primary.sql`INSERT INTO lag_probe (payload) SELECT repeat('y', 200) FROM generate_series(1, 2000)`;
      for (let i = 0; i < 100; i++) {
        const [row] = await onStandby<{ behind: boolean }[]>`SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() AS behind`;
        if (row?.behind) break;
        await sleep(50);
      }
      const behind = await health(onStandby);
      // The primary's checks remember where the standby's replay position stood.
      expect(num(check(await health(onPrimary), 'postgresql:replicationLagBytes', `${standby.name}@127.0.0.1`))).toBeGreaterThan(0);
      const lag = check(behind, 'postgresql:replicationLag');
      // At most the time since the caught-up check above (plus its own run), not the 4 s idle before it.
      expect(num(lag)).toBeLessThan(3);
      expect(num(check(behind, 'postgresql:replicationLagBytes'))).toBeGreaterThan(100_000);
      // A client without that memory sees the age of the last replayed transaction.
      const fresh = open(standbyDir, 'monitor');
      expect(num(check(await health(fresh), 'postgresql:replicationLag'))).toBeGreaterThan(4);

      // More WAL: the standby acknowledges it, still reporting the same replay position.
      await sleep(1000);
      await primary.sql`INSERT INTO lag_probe (payload) VALUES ('z')`;
      await sleep(5000);
      const late = await health(onStandby, { thresholds: { replicationLagWarnSeconds: 5 } });
      const lateLag = check(late, 'postgresql:replicationLag');
      expect(num(lateLag)).toBeGreaterThan(5);
      expect(lateLag.status).toBe('warn');
      expect(lateLag.output).toMatch(/^this standby replays [\d.]+ s behind the primary; replay is paused \(SELECT pg_wal_replay_resume\(\) resumes it\): a failover to it now loses that much/);
      const main = await health(onPrimary, { thresholds: { replicationLagWarnSeconds: 5 } });
      const seen = check(main, 'postgresql:replicationLag', `${standby.name}@127.0.0.1`);
      expect(num(seen)).toBeGreaterThan(5);
      expect(seen.status).toBe('warn');
      expect(seen.output).toMatch(/its replay position has not moved for [\d.]+ s/);
      expect(num(check(main, 'postgresql:replicationLagBytes', `${standby.name}@127.0.0.1`))).toBeGreaterThan(100_000);

      // The alert holds for a minute before it fires, on either side.
      for (const [doc, component] of [
        [late, 'this standby'],
        [main, `${standby.name}@127.0.0.1`],
      ] as const) {
        const { engine: alerts } = engine();
        const t0 = Date.now();
        expect(alerts.evaluate(doc, t0)).toEqual([expect.objectContaining({ alert: 'replication-lag', state: 'pending' })]);
        const fired = alerts.evaluate(doc, t0 + 60_000);
        expect(fired).toEqual([expect.objectContaining({ alert: 'replication-lag', state: 'firing', severity: 'critical' })]);
        expect((fired[0] as AlertTransition).summary).toMatch(new RegExp(`^Replay on ${component} has been [\\d.]+ s behind the primary for a minute`));
      }
    } finally {
      await standbySuper`SELECT pg_wal_replay_resume()`;
    }
    await caughtUp();
    expect(check(await health(onStandby), 'postgresql:replicationLag')).toMatchObject({ observedValue: 0, status: 'pass' });
  });

  it("the primary's metrics: one series per standby, two on one host told apart; a paused replay grows only its own; a stopped standby's series go, its slot goes inactive", async () => {
    const reader = new TestMetricReader();
    const provider = new MeterProvider({ readers: [reader] });
    const metrics = registerServerMetrics(provider.getMeter('standby-metrics'), onPrimary);
    const secondDir = join(primary.root, 'standby2');
    const second = await createStandby({ dataDir: secondDir, from: primary.dataDir, pooler: false });
    const secondSuper = open(secondDir, 'superuser');
    const DELAY = 'postgresql.replication.data_delay';
    const delayOf = async (name: string) => (await reader.snapshot({ fresh: true })).points(DELAY, { application_name: name });
    const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
      for (let i = 0; i < 200; i++) {
        const value = await probe();
        if (value !== undefined) return value;
        await sleep(50);
      }
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify((await reader.snapshot({ fresh: true })).points(DELAY))}`);
    };
    try {
      // Both stream from 127.0.0.1: before application_name was a label, they were one series.
      const both = await until('a data_delay series for each standby', async () => {
        const points = (await reader.snapshot({ fresh: true })).points(DELAY, { replication_client: '127.0.0.1' });
        return points.length === 2 ? points : undefined;
      });
      expect(both.map((p) => p.attributes.application_name).sort()).toEqual([standby.name, second.name].sort());

      // Replay paused on the second one only: its delay grows past what was written, the first catches up.
      await secondSuper`SELECT pg_wal_replay_pause()`;
      try {
        await primary.sql`INSERT INTO lag_probe (payload) SELECT repeat('m', 200) FROM generate_series(1, 2000)`;
        await caughtUp();
        const behind = await until('the paused standby to fall 100 kB behind', async () => {
          const [point] = await delayOf(second.name);
          return (point?.value as number) > 100_000 ? (point?.value as number) : undefined;
        });
        expect(behind).toBeGreaterThan(100_000);
        await until('the streaming standby back to a small delay', async () => {
          const [point] = await delayOf(standby.name);
          return point !== undefined && (point.value as number) < 100_000 ? true : undefined;
        });
      } finally {
        await secondSuper`SELECT pg_wal_replay_resume()`;
      }
      await until('the resumed standby to catch up', async () => {
        const [point] = await delayOf(second.name);
        return point !== undefined && (point.value as number) < 100_000 ? true : undefined;
      });

      // The failure: the second standby stops. Its series go (not frozen at the last value), the
      // first's stay, and its slot reads inactive while it holds WAL back.
      await down({ dataDir: secondDir });
      await until('the stopped standby\'s series to go', async () => ((await delayOf(second.name)).length === 0 ? true : undefined));
      const after = await reader.snapshot({ fresh: true });
      expect(after.points(DELAY, { application_name: standby.name })).toHaveLength(1);
      expect(after.points('postgresql.wal.lag', { application_name: second.name })).toEqual([]);
      expect(after.value('jeex_db.replication_slot.active', { slot_name: second.slot })).toBe(0);
      expect(after.value('jeex_db.replication_slot.active', { slot_name: standby.slot })).toBe(1);
      await primary.sql`INSERT INTO lag_probe (payload) SELECT repeat('n', 200) FROM generate_series(1, 2000)`;
      expect((await reader.snapshot({ fresh: true })).value('jeex_db.replication_slot.retained_wal', { slot_name: second.slot })).toBeGreaterThan(100_000);
    } finally {
      metrics.close();
      await provider.shutdown();
      await down({ dataDir: secondDir }).catch(() => undefined);
      // Its slot would hold WAL back and warn in the checks of the tests after this one.
      await primary.sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${second.slot} AND NOT active`;
      await rm(secondDir, { recursive: true, force: true });
    }
  });

  it('a role without pg_monitor: the receiver and the standbys report themselves unavailable, not passing', async () => {
    const plainStandby = await health(open(standbyDir, 'app'));
    const receiver = check(plainStandby, 'postgresql:walReceiver');
    expect(receiver).toMatchObject({ observedValue: null, status: 'warn' });
    expect(receiver.output).toMatch(/cannot see whether it streams: run the health check as a member of pg_monitor \(GRANT pg_monitor TO <role>\)/);
    const plainPrimary = await health(open(primary.dataDir, 'app'));
    const replicas = check(plainPrimary, 'postgresql:replicas');
    expect(replicas).toMatchObject({ observedValue: null, status: 'warn' });
    expect(replicas.output).toMatch(/sees 1 walsender\(s\) but not their state, so the standbys streaming cannot be counted: run the health check as a member of pg_monitor/);
    expect(plainPrimary.checks['postgresql:replicationLag']).toBeUndefined();
  });

  it('primary stopped: not streaming warns at once, fails after notStreamingFailSeconds, never passes; the alert fires; streaming again resolves it', async () => {
    const { engine: alerts } = engine();
    const t0 = Date.now();
    expect(alerts.evaluate(await health(onStandby), t0)).toEqual([]);
    await down({ dataDir: primary.dataDir });

    let first: HealthDocument | undefined;
    for (let i = 0; i < 100; i++) {
      first = await health(onStandby, { thresholds: { notStreamingFailSeconds: 3 } });
      if (check(first, 'postgresql:walReceiver').observedValue !== 'streaming') break;
      await sleep(50);
    }
    if (!first) throw new Error('no health document');
    const receiver = check(first, 'postgresql:walReceiver');
    expect(receiver.status).toBe('warn');
    expect(receiver.thresholds).toEqual({ fail: 3 });
    expect(receiver.output).toMatch(/^this standby does not stream from its primary, first seen by this check .*: (no WAL receiver runs|its WAL receiver is \w+)\. Its reads grow stale/);
    // The bug this replaces: replicationLag 0 and pass with the primary gone.
    expect(check(first, 'postgresql:replicationLag')).toMatchObject({ observedValue: null, status: 'warn' });
    expect(check(first, 'postgresql:replicationLag').output).toMatch(/^unknown while this standby does not stream \(see postgresql:walReceiver\)/);
    expect(first.status).not.toBe('pass');
    expect(alerts.evaluate(first, t0 + 1000)).toEqual([expect.objectContaining({ alert: 'standby-not-streaming', state: 'pending' })]);

    await sleep(3200);
    // The same client remembers since when; the variable sets the grace as well as the option.
    const later = await checkHealth(onStandby, { env: { JEEX_HEALTH_NOT_STREAMING_FAIL_SECONDS: '3s' } });
    const failed = check(later, 'postgresql:walReceiver');
    expect(failed.status).toBe('fail');
    expect(failed.output).toMatch(/does not stream from its primary, for [\d.]+ s \(since \d{4}-.*\).*It fails after notStreamingFailSeconds \(3 s\)/);
    expect(later.status).toBe('fail');
    // A one-off check (a new client) cannot know since when: it warns, it does not pass.
    expect(check(await health(open(standbyDir, 'monitor')), 'postgresql:walReceiver').status).toBe('warn');
    const fired = alerts.evaluate(later, t0 + 31_000);
    expect(fired).toEqual([expect.objectContaining({ alert: 'standby-not-streaming', state: 'firing', severity: 'critical' })]);
    expect((fired[0] as AlertTransition).summary).toMatch(/^This standby has not streamed from its primary for 30 s \(WAL receiver \w+\): this standby does not stream/);

    await up({ dataDir: primary.dataDir, pooler: false });
    let again: HealthDocument | undefined;
    for (let i = 0; i < 200; i++) {
      again = await health(onStandby);
      if (check(again, 'postgresql:walReceiver').observedValue === 'streaming') break;
      await sleep(100);
    }
    if (!again) throw new Error('no health document');
    expect(check(again, 'postgresql:walReceiver')).toMatchObject({ observedValue: 'streaming', status: 'pass' });
    expect(alerts.evaluate(again, t0 + 40_000)).toEqual([expect.objectContaining({ alert: 'standby-not-streaming', state: 'resolved' })]);
  }, 60_000);
});
