import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { ReservedSql, Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { localUrl } from '../../src/local/state.ts';
import { AlertEngine, type AlertTransition } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules, type AlertRule } from '../../src/ops/alerts/rules.ts';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { checkHealth, type HealthOptions } from '../../src/ops/health/check-health.ts';
import type { HealthCheck, HealthDocument } from '../../src/ops/health/types.ts';
import { resolveServeTargets } from '../../src/serve/targets.ts';
import { down } from '../../src/stack/down.ts';
import { startBackupCluster, type BackupCluster } from '../helpers/backup-cluster.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';

// Rules provoked on a cluster of this file's own (started by `up`, WAL archived by basic_archive
// into its repository): archiving that stops, connections near max_connections, and a backup
// that gets old, the last through `jeex-db health` on the local cluster. `for` is shortened to 0.
let cluster: BackupCluster;
let monitor: Sql;

beforeAll(async () => {
  cluster = await startBackupCluster('jeex-cluster-rules-');
  const url = localUrl(cluster.layout, 'monitor', { database: cluster.database });
  if (!url) throw new Error('the local cluster has no monitoring role');
  monitor = connect(url, { max: 2, onnotice: () => {} });
}, 120_000);
afterAll(async () => {
  await monitor?.end({ timeout: 1 });
  await cluster?.sql.end({ timeout: 1 });
  if (cluster) {
    await down({ dataDir: cluster.dataDir }).catch(() => undefined);
    await rm(cluster.root, { recursive: true, force: true });
  }
});

function rule(name: string): AlertRule {
  const found = defaultAlertRules.find((r) => r.name === name);
  if (!found) throw new Error(`no default rule ${name}`);
  return { ...found, for: 0 };
}
const engineOf = (names: string[]) => new AlertEngine({ logger: pino({ level: 'silent' }), webhook: null, rules: names.map(rule) });

/** Evaluate until `alert` makes the transition `state` (transitions of earlier evaluations count); the time it took. */
async function until(engine: AlertEngine, health: () => Promise<HealthDocument>, alert: string, state: AlertTransition['state'], timeoutMs = 30_000): Promise<{ ms: number; transition: AlertTransition; doc: HealthDocument }> {
  const begun = Date.now();
  for (;;) {
    const doc = await health();
    const transition = engine.evaluate(doc).find((tr) => tr.alert === alert && tr.state === state);
    if (transition) return { ms: Date.now() - begun, transition, doc };
    if (Date.now() - begun > timeoutMs) throw new Error(`${alert} did not become ${state} within ${timeoutMs} ms; last document: ${JSON.stringify(doc.checks)}`);
    await sleep(250);
  }
}

const byUnit = (doc: HealthDocument, key: string, unit: string): HealthCheck => {
  const found = (doc.checks[key] ?? []).find((e) => e.observedUnit === unit);
  if (!found) throw new Error(`no ${key} in ${unit}: ${JSON.stringify(doc.checks[key])}`);
  return found;
};

async function reload(settings: Record<string, string | null>): Promise<void> {
  for (const [name, value] of Object.entries(settings)) {
    await cluster.sql.unsafe(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
  }
  await cluster.sql`SELECT pg_reload_conf()`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const fresh = connect(localUrl(cluster.layout, 'superuser', { database: cluster.database }) ?? '', { max: 1, onnotice: () => {} });
    const rows = await fresh<{ name: string; setting: string; reset: string }[]>`SELECT name, setting, reset_val AS reset FROM pg_settings WHERE name = ANY(${Object.keys(settings)})`;
    await fresh.end();
    if (rows.every((r) => (settings[r.name] === null ? r.setting === r.reset : r.setting === settings[r.name]))) return;
    if (Date.now() > deadline) throw new Error(`the server did not reload ${JSON.stringify(settings)}: ${JSON.stringify(rows)}`);
    await sleep(100);
  }
}

async function switchSegment(): Promise<string> {
  await cluster.sql`CREATE TABLE IF NOT EXISTS wal_filler (n int)`;
  await cluster.sql`INSERT INTO wal_filler SELECT generate_series(1, 100)`;
  const [row] = await cluster.sql<{ file: string }[]>`SELECT pg_walfile_name(pg_switch_wal()) AS file`;
  return row?.file ?? '';
}

describe('wal-archive-behind', () => {
  it('an archive_command that fails: the .ready segments age, the rule fires (with wal-archive-failing), and both resolve once archiving works', async () => {
    const options: HealthOptions = { env: {}, thresholds: { archiveBacklogWarnSeconds: 2 } };
    const health = () => checkHealth(monitor, options);
    const engine = engineOf(['wal-archive-behind', 'wal-archive-failing']);
    const calm = await health();
    expect(byUnit(calm, 'postgresql:archiveBacklog', '{file}')).toMatchObject({ status: 'pass', componentType: 'postgresql' });
    expect(byUnit(calm, 'postgresql:archiveBacklog', 's')).toMatchObject({ status: 'pass', thresholds: { warn: 2, fail: 1800 } });
    expect(engine.evaluate(calm).filter((tr) => tr.alert === 'wal-archive-behind')).toEqual([]);

    await reload({ archive_library: '', archive_command: 'false' });
    try {
      const switched = Date.now();
      const segment = await switchSegment();
      const behind = await until(engine, health, 'wal-archive-behind', 'firing');
      const age = byUnit(behind.doc, 'postgresql:archiveBacklog', 's');
      expect(age.status).toBe('warn');
      expect(Number(age.observedValue)).toBeGreaterThanOrEqual(2);
      expect(byUnit(behind.doc, 'postgresql:archiveBacklog', '{file}').observedValue).toBeGreaterThanOrEqual(1);
      expect(behind.transition.summary).toMatch(new RegExp(`^WAL archiving is behind \\([\\d.]+ s\\): \\d+ WAL segment\\(s\\) wait for the archiver, the oldest \\(${segment}\\) for \\d+ s: the archive falls behind`));
      console.log(`wal-archive-behind: firing ${Date.now() - switched} ms after pg_switch_wal() with archiving failing (archiveBacklogWarnSeconds 2, checks every 250 ms)`);
    } finally {
      await reload({ archive_command: null, archive_library: null });
    }
    const fixed = Date.now();
    const resolved = await until(engine, health, 'wal-archive-behind', 'resolved');
    expect(byUnit(resolved.doc, 'postgresql:archiveBacklog', '{file}').observedValue).toBe(0);
    console.log(`wal-archive-behind: resolved ${Date.now() - fixed} ms after archive_library was restored`);
  }, 60_000);
});

describe('connections-high', () => {
  it('past 80% of max_connections it fires; once the connections close it resolves', async () => {
    const health = () => checkHealth(monitor, { env: {} });
    const engine = engineOf(['connections-high']);
    const [facts] = await cluster.sql<{ max: number }[]>`SELECT current_setting('max_connections')::int AS max`;
    const max = facts?.max ?? 100;
    const target = Math.floor(max * 0.82);
    const many = connect(localUrl(cluster.layout, 'superuser', { database: cluster.database }) ?? '', { max: target, onnotice: () => {} });
    const held: ReservedSql[] = [];
    try {
      for (let i = 0; i < target; i++) held.push(await many.reserve());
      const opened = Date.now();
      const fired = await until(engine, health, 'connections-high', 'firing');
      expect(Number(fired.transition.observedValue)).toBeGreaterThan(80);
      expect(fired.transition.summary).toMatch(/^Connections at [\d.]+% of max_connections for a minute: \d+ of max_connections \d+ in use/);
      console.log(`connections-high: firing ${Date.now() - opened} ms after ${target} connections were open (max_connections ${max})`);
    } finally {
      for (const sql of held) sql.release();
      await many.end({ timeout: 1 });
    }
    const closed = Date.now();
    await until(engine, health, 'connections-high', 'resolved');
    console.log(`connections-high: resolved ${Date.now() - closed} ms after the connections closed`);
  }, 60_000);
});

describe('backup-too-old through `jeex-db health` on the local cluster', () => {
  it('no backup yet: none expected; after one, it is judged by its age (warn fires the rule); disks are checked too', async () => {
    const cli = async (warnAfter = '1h') => {
      const result = await runCli(['health', '--data-dir', cluster.dataDir, '--no-migrations', '--json'], localEnv({ JEEX_HEALTH_BACKUP_AGE_WARN_SECONDS: warnAfter }));
      return { result, doc: parseJson<HealthDocument>(result) };
    };
    const before = await cli();
    expect(before.doc.checks['backup:age']).toBeUndefined();
    expect(before.doc.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^backup:age: the repository .* holds no backup, so none is expected/)]));
    expect(byUnit(before.doc, 'disk:dataFree', '%')).toMatchObject({ componentId: cluster.layout.pgdata, status: 'pass' });
    expect(byUnit(before.doc, 'disk:archiveFree', 'By').componentId).toBe(cluster.repo.wal);
    expect(resolveServeTargets({ dataDir: cluster.dataDir }).localChecks).toEqual({ disks: { dataDir: cluster.layout.pgdata, archiveDir: cluster.repo.wal }, backupRepo: cluster.repo });

    const { record } = await takeBaseBackup(cluster.sql, { repo: cluster.repo, encryptionKey: null });
    const unverified = await cli();
    expect(unverified.doc.checks['backup:age']?.[0]).toMatchObject({ status: 'fail', observedValue: null });
    expect(unverified.doc.checks['backup:age']?.[0]?.output).toMatch(/^none of the 1 backup\(s\) in .* passed verification: run `jeex-db verify`/);
    const verified = await verifyBackup(cluster.repo, record.id, { sourceDataDir: cluster.dataDir, restore: false });
    expect(verified.problems).toEqual([]);

    const fresh = await cli();
    expect(fresh.doc.checks['backup:age']?.[0]).toMatchObject({ status: 'pass', thresholds: { warn: 3600, fail: 172_800 } });
    const engine = engineOf(['backup-too-old']);
    expect(engine.evaluate(fresh.doc).filter((tr) => tr.state === 'firing')).toEqual([]);
    // The backup and its verification took longer than 2 s: with a 2 s limit it is overdue.
    await sleep(Math.max(0, Date.parse(record.stoppedAt) + 2_500 - Date.now()));
    const old = await cli('2');
    expectExit(old.result, 1);
    expect(old.doc.checks['backup:age']?.[0]).toMatchObject({ status: 'warn' });
    expect(old.doc.checks['backup:age']?.[0]?.output).toMatch(/^the last backup finished 0 h ago/);
    const fired = engine.evaluate(old.doc).find((tr) => tr.alert === 'backup-too-old');
    expect(fired).toMatchObject({ state: 'firing', severity: 'critical' });
  }, 300_000);
});
