import { rm } from 'node:fs/promises';
import pino from 'pino';
import type { Sql } from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localUrl } from '../../src/local/state.ts';
import { AlertEngine } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules } from '../../src/ops/alerts/rules.ts';
import { checkHealth, type HealthOptions } from '../../src/ops/health/check-health.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster, type BackupCluster } from '../helpers/backup-cluster.ts';

// The primary's side of replication health, on a PostgreSQL 18 of this file's own (slots, WAL
// switches and synchronous_standby_names would disturb the shared server): no standby is needed
// to see a slot without one, a slot losing its WAL, or commits blocked by a synchronous standby
// that never comes. The checks run as the monitoring role `up` creates (pg_monitor).

const CLUSTER_TIMEOUT = 120_000;
let cluster: BackupCluster;
let monitor: Sql;
/** What `up` configured (ops/postgresql.conf), restored after each test. */
let keepSize = '';

beforeAll(async () => {
  cluster = await startBackupCluster('jeex-health-repl-');
  const url = localUrl(cluster.layout, 'monitor', { database: cluster.database });
  if (!url) throw new Error('up made no monitoring role');
  monitor = connect(url, { max: 2, onnotice: () => {} });
  [{ keepSize } = { keepSize: '' }] = await monitor<{ keepSize: string }[]>`SELECT current_setting('max_slot_wal_keep_size') AS "keepSize"`;
}, CLUSTER_TIMEOUT);

afterAll(async () => {
  await monitor?.end({ timeout: 5 });
  await cluster?.sql.end({ timeout: 5 });
  if (cluster) {
    await down({ dataDir: cluster.dataDir }).catch(() => undefined);
    await rm(cluster.root, { recursive: true, force: true });
  }
}, CLUSTER_TIMEOUT);

afterEach(async () => {
  await cluster.sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`;
  await cluster.sql`ALTER SYSTEM RESET synchronous_standby_names`;
  await cluster.sql`ALTER SYSTEM RESET synchronous_commit`;
  await cluster.sql`ALTER SYSTEM RESET max_slot_wal_keep_size`;
  await reload({ synchronous_standby_names: '', synchronous_commit: 'on', max_slot_wal_keep_size: keepSize });
});

const health = (options: HealthOptions = {}) => checkHealth(monitor, { env: {}, ...options });

function entries(doc: HealthDocument, key: string): HealthCheck[] {
  const found = doc.checks[key];
  if (!found || found.length === 0) throw new Error(`no ${key} in ${JSON.stringify(doc, null, 2)}`);
  return found;
}
const check = (doc: HealthDocument, key: string): HealthCheck => entries(doc, key)[0] as HealthCheck;
const slot = (doc: HealthDocument, name: string): HealthCheck => {
  const found = entries(doc, 'postgresql:replicationSlots').find((e) => e.componentId === name);
  if (!found) throw new Error(`no slot ${name} in ${JSON.stringify(doc.checks['postgresql:replicationSlots'])}`);
  return found;
};

/** pg_reload_conf() is asynchronous: wait until a new session of the monitoring role sees the values. */
async function reload(want: Record<string, string>): Promise<void> {
  await cluster.sql`SELECT pg_reload_conf()`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await monitor<{ name: string; setting: string }[]>`SELECT name, current_setting(name) AS setting FROM unnest(${Object.keys(want)}::text[]) AS name`;
    if (rows.every((row) => want[row.name] === row.setting)) return;
    if (Date.now() > deadline) throw new Error(`the server did not reload ${JSON.stringify(want)}: ${JSON.stringify(rows)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function engine() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { engine: new AlertEngine({ logger, webhook: null, rules: defaultAlertRules }), lines };
}

describe('replication health on a primary', () => {
  it('no standby and none expected: pass, with notes saying there is no slot and no synchronous replication', async () => {
    const doc = await health();
    expect(check(doc, 'postgresql:recovery')).toMatchObject({ observedValue: false, status: 'pass' });
    expect(check(doc, 'postgresql:replicas')).toMatchObject({ observedValue: 0, status: 'pass', observedUnit: '{replica}' });
    expect(check(doc, 'postgresql:replicas').thresholds).toBeUndefined();
    expect(doc.checks['postgresql:replicationSlots']).toBeUndefined();
    expect(doc.checks['postgresql:synchronousStandbys']).toBeUndefined();
    expect(doc.checks['postgresql:walReceiver']).toBeUndefined();
    expect(doc.notes).toEqual(expect.arrayContaining([expect.stringContaining('no replication slots'), expect.stringContaining('synchronous_standby_names is empty')]));
  });

  it('a physical slot with no standby: a standby is expected and missing; the slot warns once inactive; replicasMin overrides', async () => {
    await cluster.sql`SELECT pg_create_physical_replication_slot('standby_gone', true)`;
    const doc = await health();
    const replicas = check(doc, 'postgresql:replicas');
    expect(replicas).toMatchObject({ observedValue: 0, status: 'warn', thresholds: { warn: 1 } });
    expect(replicas.output).toMatch(/no standby streams, fewer than the 1 expected \(one per physical replication slot: standby_gone;.*slot standby_gone has no standby connected/);
    // Just created: reserved, and not inactive long enough to warn.
    expect(slot(doc, 'standby_gone')).toMatchObject({ observedValue: 'reserved', status: 'pass', componentType: 'postgresql' });

    const strict = await health({ thresholds: { slotInactiveWarnSeconds: 0 } });
    expect(slot(strict, 'standby_gone').status).toBe('warn');
    expect(slot(strict, 'standby_gone').output).toMatch(/^physical slot standby_gone has had no standby for \d+ s and keeps [\d.]+ MiB of WAL.*; start its standby, or drop the slot if it is gone \(SELECT pg_drop_replication_slot\('standby_gone'\)\)/);

    // The operator's number wins, from code or from the environment.
    expect(check(await health({ thresholds: { replicasMin: 0 } }), 'postgresql:replicas')).toMatchObject({ observedValue: 0, status: 'pass' });
    const fromEnv = await checkHealth(monitor, { env: { JEEX_HEALTH_REPLICAS_MIN: '2' } });
    expect(check(fromEnv, 'postgresql:replicas')).toMatchObject({ status: 'warn', thresholds: { warn: 2 } });
    expect(check(fromEnv, 'postgresql:replicas').output).toMatch(/fewer than the 2 expected \(replicasMin\)/);

    // The alert waits a minute for a standby to come back, then fires.
    const { engine: alerts } = engine();
    const t0 = Date.now();
    expect(alerts.evaluate(doc, t0)).toContainEqual(expect.objectContaining({ alert: 'standby-missing', state: 'pending' }));
    const fired = alerts.evaluate(await health(), t0 + 61_000).find((t) => t.alert === 'standby-missing');
    expect(fired).toMatchObject({ state: 'firing', severity: 'warning' });
    expect(fired?.summary).toMatch(/^0 standby\(s\) have streamed for a minute, fewer than expected: no standby streams/);
  });

  it('a slot past max_slot_wal_keep_size: close to it warns, unreserved fails, lost after a checkpoint fails; the alert fires at once', async () => {
    await cluster.sql`ALTER SYSTEM SET max_slot_wal_keep_size = '32MB'`;
    await reload({ max_slot_wal_keep_size: '32MB' });
    await cluster.sql`SELECT pg_create_physical_replication_slot('standby_slow', true)`;
    // Write and switch segments until the slot's oldest WAL is beyond what it may keep; on the way,
    // while still reserved, it is close to the limit (safe_wal_size starts above
    // max_slot_wal_keep_size: the segment being written is not counted).
    await cluster.sql`CREATE TABLE IF NOT EXISTS wal_filler (payload text)`;
    let status: string | null = 'reserved';
    const near: HealthCheck[] = [];
    for (let i = 0; i < 12 && status !== 'unreserved'; i++) {
      await cluster.sql`INSERT INTO wal_filler SELECT repeat('x', 1000) FROM generate_series(1, 8000)`;
      await cluster.sql`SELECT pg_switch_wal()`;
      [{ status } = { status: null }] = await cluster.sql<{ status: string | null }[]>`SELECT wal_status AS status FROM pg_replication_slots WHERE slot_name = 'standby_slow'`;
      if (status === 'reserved') near.push(slot(await health({ thresholds: { slotSafeWalWarnPercent: 100 } }), 'standby_slow'));
    }
    expect(near[0]).toMatchObject({ observedValue: 'reserved', status: 'warn' });
    expect(near[0]?.output).toMatch(/can lose its WAL after [\d.]+ MiB more is written \(safe_wal_size, [\d.]+% of max_slot_wal_keep_size\)/);
    expect(status).toBe('unreserved');
    const unreserved = await health();
    expect(slot(unreserved, 'standby_slow')).toMatchObject({ observedValue: 'unreserved', status: 'fail' });
    expect(slot(unreserved, 'standby_slow').output).toMatch(/no longer reserves the WAL its standby needs \(max_slot_wal_keep_size 32 MiB exceeded, keeps [\d.]+ MiB of WAL\): the next checkpoint removes it/);
    expect(unreserved.status).toBe('fail');
    const { engine: alerts, lines } = engine();
    expect(alerts.evaluate(unreserved)).toContainEqual(expect.objectContaining({ alert: 'replication-slot-lost', state: 'firing', severity: 'critical', observedValue: 'unreserved' }));
    const line = lines.find((l) => l.msg === 'alert replication-slot-lost firing');
    expect(line?.summary).toMatch(/^Replication slot standby_slow is unreserved: physical slot standby_slow no longer reserves/);

    await cluster.sql`CHECKPOINT`;
    const lost = await health();
    expect(slot(lost, 'standby_slow')).toMatchObject({ observedValue: 'lost', status: 'fail' });
    expect(slot(lost, 'standby_slow').output).toMatch(/lost the WAL its standby needs \(wal_removed\): that standby can no longer stream and must be re-seeded \(`jeex-db standby --reseed`\).*pg_drop_replication_slot\('standby_slow'\)/);
    // Still firing (no second notification), now naming the lost slot.
    expect(alerts.evaluate(lost)).toEqual([]);
    expect(alerts.active()).toContainEqual(expect.objectContaining({ alert: 'replication-slot-lost', state: 'firing', observedValue: 'lost' }));
  });

  it('synchronous_standby_names with no standby: commits block forever, the check fails and says why; the alert fires', async () => {
    await cluster.sql`CREATE TABLE sync_probe (id int)`;
    await cluster.sql`ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (jeex_standby)'`;
    await reload({ synchronous_standby_names: 'ANY 1 (jeex_standby)' });
    const writer = connect(localUrl(cluster.layout, 'superuser', { database: cluster.database }) as string, { max: 2, onnotice: () => {} });
    try {
      // A commit that has to wait for a synchronous standby: it hangs, statement_timeout or not.
      const blocked = writer.begin(async (tx) => {
        await tx`SET LOCAL statement_timeout = '300ms'`;
        await tx`INSERT INTO sync_probe VALUES (1)`;
      });
      const state = { settled: false };
      void blocked.then(
        () => (state.settled = true),
        () => (state.settled = true),
      );
      const [{ pid } = { pid: 0 }] = await waitFor(() => cluster.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'`);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(state.settled).toBe(false);

      // The probe avoids the wait: this transaction does not ask for a standby's confirmation.
      await writer.begin(async (tx) => {
        await tx`SET LOCAL synchronous_commit = local`;
        await tx`INSERT INTO sync_probe VALUES (2)`;
      });

      const doc = await health();
      const sync = check(doc, 'postgresql:synchronousStandbys');
      expect(sync).toMatchObject({ observedValue: 0, status: 'fail', observedUnit: '{replica}', thresholds: { fail: 1 } });
      expect(sync.output).toMatch(
        /^synchronous_standby_names is 'ANY 1 \(jeex_standby\)' \(any 1 of jeex_standby must confirm each commit\), but 0 synchronous standby\(s\) stream: every commit waits for a confirmation that cannot come, forever \(statement_timeout does not end the wait.*1 session\(s\) wait in COMMIT now\..*ALTER SYSTEM SET synchronous_standby_names = ''/,
      );
      expect(doc.status).toBe('fail');
      const { engine: alerts } = engine();
      const fired = alerts.evaluate(doc).find((t) => t.alert === 'synchronous-standby-missing');
      expect(fired).toMatchObject({ state: 'firing', severity: 'critical' });
      expect(fired?.summary).toMatch(/^Commits block: synchronous_standby_names/);

      // Cancelling the wait ends the statement; the row is committed here (not on any standby).
      await cluster.sql`SELECT pg_cancel_backend(${pid})`;
      await blocked;
      const [{ rows } = { rows: 0 }] = await cluster.sql<{ rows: number }[]>`SELECT count(*)::int AS rows FROM sync_probe`;
      expect(rows).toBe(2);

      // With synchronous_commit = local for the server, commits do not wait: a warning, not a failure.
      await cluster.sql`ALTER SYSTEM SET synchronous_commit = 'local'`;
      await reload({ synchronous_commit: 'local' });
      const local = check(await health(), 'postgresql:synchronousStandbys');
      expect(local).toMatchObject({ observedValue: 0, status: 'warn' });
      expect(local.output).toMatch(/synchronous_commit is local, so commits do not wait, but they are not on a standby when they return/);
    } finally {
      await cluster.sql`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'`;
      await writer.end({ timeout: 5 });
    }
  });
});

async function waitFor<T extends unknown[]>(query: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const rows = await query();
    if (rows.length > 0) return rows;
    if (Date.now() > deadline) throw new Error('timed out waiting for a row');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
