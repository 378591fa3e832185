import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { healthDocument } from '../../src/ops/health/check-health.ts';
import { archiveFailing } from '../../src/ops/backup/archiver.ts';
import { cacheHit, healthExitCode, judge } from '../../src/ops/health/judge.ts';
import { measure } from '../../src/ops/health/measure.ts';
import { resolveHealthTarget } from '../../src/ops/health/target.ts';
import { DEFAULT_HEALTH_THRESHOLDS, resolveHealthThresholds, THRESHOLD_NAMES, thresholdEnvName } from '../../src/ops/health/thresholds.ts';

const at = () => new Date('2025-01-01T00:00:00Z');

describe('health thresholds', () => {
  it('names each environment variable JEEX_HEALTH_<UPPER_SNAKE>', () => {
    expect(thresholdEnvName('connectionsWarnPercent')).toBe('JEEX_HEALTH_CONNECTIONS_WARN_PERCENT');
    expect(thresholdEnvName('responseTimeFailMs')).toBe('JEEX_HEALTH_RESPONSE_TIME_FAIL_MS');
    expect(thresholdEnvName('cacheHitMinBlocks')).toBe('JEEX_HEALTH_CACHE_HIT_MIN_BLOCKS');
    expect(new Set(THRESHOLD_NAMES.map(thresholdEnvName)).size).toBe(THRESHOLD_NAMES.length);
  });

  it('uses the documented defaults with an empty environment', () => {
    const { thresholds, problems } = resolveHealthThresholds({}, {});
    expect(problems).toEqual([]);
    expect(thresholds).toEqual(DEFAULT_HEALTH_THRESHOLDS);
    expect(thresholds).toMatchObject({ connectionsWarnPercent: 80, connectionsFailPercent: 95, cacheHitWarnRatio: 0.95, slowStatementMs: 500 });
    expect(thresholds.databaseSizeWarnBytes).toBeUndefined();
  });

  it('takes the environment over the defaults, code over the environment, and "off" / null to turn one off', () => {
    const { thresholds, problems } = resolveHealthThresholds(
      { connectionsWarnPercent: 60, slowStatementMs: null, poolWaitingWarn: undefined },
      { JEEX_HEALTH_CONNECTIONS_WARN_PERCENT: '70', JEEX_HEALTH_DATABASE_SIZE_WARN_BYTES: '1000', JEEX_HEALTH_POOL_WAITING_WARN: 'off', JEEX_HEALTH_XID_AGE_WARN_PERCENT: ' 40 ' },
    );
    expect(problems).toEqual([]);
    expect(thresholds.connectionsWarnPercent).toBe(60);
    expect(thresholds.databaseSizeWarnBytes).toBe(1000);
    expect(thresholds.xidAgeWarnPercent).toBe(40);
    expect('poolWaitingWarn' in thresholds).toBe(false);
    expect('slowStatementMs' in thresholds).toBe(false);
  });

  it('reads times and sizes in the environment with their units, a plain number in the unit of the name', () => {
    const { thresholds, problems } = resolveHealthThresholds(
      {},
      { JEEX_HEALTH_BACKUP_AGE_WARN_SECONDS: '26h', JEEX_HEALTH_BACKUP_AGE_FAIL_SECONDS: '172800', JEEX_HEALTH_SLOW_STATEMENT_MS: '1.5s', JEEX_HEALTH_DATABASE_SIZE_WARN_BYTES: '50GB' },
    );
    expect(problems).toEqual([]);
    expect(thresholds).toMatchObject({ backupAgeWarnSeconds: 26 * 3600, backupAgeFailSeconds: 172_800, slowStatementMs: 1500, databaseSizeWarnBytes: 50 * 2 ** 30 });
    const bad = resolveHealthThresholds({}, { JEEX_HEALTH_TRANSACTION_AGE_WARN_SECONDS: '5 minutes', JEEX_HEALTH_DATABASE_SIZE_FAIL_BYTES: 'big' });
    expect(bad.problems).toEqual([
      'JEEX_HEALTH_TRANSACTION_AGE_WARN_SECONDS=5 minutes is not a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is seconds); using the default 300',
      expect.stringMatching(/^JEEX_HEALTH_DATABASE_SIZE_FAIL_BYTES=big is not a size such as 512MiB.*; using none \(off\)$/),
    ]);
  });

  it('replication thresholds: the grace for a standby that does not stream, lag in bytes, slots', () => {
    const { thresholds: defaults } = resolveHealthThresholds({}, {});
    expect(defaults).toMatchObject({ notStreamingFailSeconds: 30, walReceiverMessageAgeWarnSeconds: 40, walReceiverMessageAgeFailSeconds: 120, slotInactiveWarnSeconds: 60, slotSafeWalWarnPercent: 20 });
    expect(defaults.replicationLagWarnBytes).toBeUndefined();
    expect(defaults.replicasMin).toBeUndefined();
    const { thresholds, problems } = resolveHealthThresholds(
      {},
      { JEEX_HEALTH_NOT_STREAMING_FAIL_SECONDS: '2min', JEEX_HEALTH_REPLICATION_LAG_WARN_BYTES: '64MiB', JEEX_HEALTH_REPLICAS_MIN: '0', JEEX_HEALTH_SLOT_INACTIVE_WARN_SECONDS: 'off' },
    );
    expect(problems).toEqual([]);
    expect(thresholds).toMatchObject({ notStreamingFailSeconds: 120, replicationLagWarnBytes: 64 * 2 ** 20, replicasMin: 0 });
    expect('slotInactiveWarnSeconds' in thresholds).toBe(false);
    const bad = resolveHealthThresholds({ walReceiverMessageAgeWarnSeconds: 200 }, { JEEX_HEALTH_SLOT_SAFE_WAL_WARN_PERCENT: '150' });
    expect(bad.problems).toEqual([
      'JEEX_HEALTH_SLOT_SAFE_WAL_WARN_PERCENT=150 is not a percentage from 0 to 100; using the default 20',
      'walReceiverMessageAgeWarnSeconds (200) is above walReceiverMessageAgeFailSeconds (120): a warning must come before a failure; set JEEX_HEALTH_WAL_RECEIVER_MESSAGE_AGE_WARN_SECONDS or JEEX_HEALTH_WAL_RECEIVER_MESSAGE_AGE_FAIL_SECONDS',
    ]);
  });

  it('reports every invalid value at once, naming the variable, and keeps the default', () => {
    const { thresholds, problems } = resolveHealthThresholds(
      { cacheHitWarnRatio: 2 },
      { JEEX_HEALTH_CONNECTIONS_WARN_PERCENT: 'lots', JEEX_HEALTH_XID_AGE_FAIL_PERCENT: '150', JEEX_HEALTH_SLOW_STATEMENT_MS: '-1' },
    );
    expect(thresholds.connectionsWarnPercent).toBe(80);
    expect(thresholds.xidAgeFailPercent).toBe(75);
    expect(thresholds.slowStatementMs).toBe(500);
    expect(thresholds.cacheHitWarnRatio).toBe(0.95);
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/JEEX_HEALTH_CONNECTIONS_WARN_PERCENT=lots is not a number of at least 0; using the default 80/);
    expect(problems.join('\n')).toMatch(/JEEX_HEALTH_XID_AGE_FAIL_PERCENT=150 is not a percentage/);
    expect(problems.join('\n')).toMatch(/thresholds.cacheHitWarnRatio = 2 is not a ratio from 0 to 1/);
  });

  it('refuses a warning that comes after the failure', () => {
    const { problems } = resolveHealthThresholds({ connectionsWarnPercent: 99 }, {});
    expect(problems).toEqual([expect.stringMatching(/connectionsWarnPercent \(99\) is above connectionsFailPercent \(95\)/)]);
    const lower = resolveHealthThresholds({ cacheHitWarnRatio: 0.5, cacheHitFailRatio: 0.9 }, {});
    expect(lower.problems).toEqual([expect.stringMatching(/cacheHitWarnRatio \(0.5\) is below cacheHitFailRatio \(0.9\)/)]);
  });
});

describe('health status logic', () => {
  it('judges higher-is-worse values at and above each limit', () => {
    expect(judge(79.9, { warn: 80, fail: 95 })).toBe('pass');
    expect(judge(80, { warn: 80, fail: 95 })).toBe('warn');
    expect(judge(95, { warn: 80, fail: 95 })).toBe('fail');
    expect(judge(1e9, {})).toBe('pass');
    expect(judge(3, { fail: 2 })).toBe('fail');
  });

  it('judges lower-is-worse values below each limit', () => {
    expect(judge(0.95, { warn: 0.95 }, true)).toBe('pass');
    expect(judge(0.94, { warn: 0.95, fail: 0.8 }, true)).toBe('warn');
    expect(judge(0.79, { warn: 0.95, fail: 0.8 }, true)).toBe('fail');
  });

  it('computes the cache hit ratio and judges it only with enough block accesses', () => {
    expect(cacheHit(900, 100, 500)).toEqual({ ratio: 0.9, enough: true });
    expect(cacheHit(90, 10, 500)).toEqual({ ratio: 0.9, enough: false });
    expect(cacheHit(0, 0, 0)).toEqual({ ratio: null, enough: false });
  });

  it('calls WAL archiving failing only when the last attempt failed', () => {
    const base = { archivedCount: 10, failedCount: 2, lastArchivedWal: 'a', lastFailedWal: 'b' };
    const t = (iso: string) => new Date(iso);
    expect(archiveFailing({ ...base, lastArchivedTime: t('2025-01-01T10:00:00Z'), lastFailedTime: t('2025-01-01T11:00:00Z') })).toBe(true);
    expect(archiveFailing({ ...base, lastArchivedTime: t('2025-01-01T12:00:00Z'), lastFailedTime: t('2025-01-01T11:00:00Z') })).toBe(false);
    expect(archiveFailing({ ...base, archivedCount: 0, lastArchivedTime: null, lastFailedTime: t('2025-01-01T11:00:00Z') })).toBe(true);
    expect(archiveFailing({ ...base, failedCount: 0, lastArchivedTime: null, lastFailedTime: null })).toBe(false);
  });

  it('maps pass / warn / fail to exit codes 0 / 1 / 3 (2 is a usage error)', () => {
    expect([healthExitCode('pass'), healthExitCode('warn'), healthExitCode('fail')]).toEqual([0, 1, 3]);
  });

  it('builds entries with thresholds shown and output only when not pass', () => {
    const warned = measure(at, { value: 85, unit: '%', limits: { warn: 80, fail: undefined }, componentType: 'postgresql', output: 'too many' });
    expect(warned).toEqual({ componentType: 'postgresql', observedValue: 85, observedUnit: '%', status: 'warn', time: '2025-01-01T00:00:00.000Z', thresholds: { warn: 80 }, output: 'too many' });
    const passed = measure(at, { value: 10, unit: '%', limits: { warn: 80 }, componentType: 'postgresql', output: 'too many' });
    expect(passed.output).toBeUndefined();
    expect(passed.status).toBe('pass');
  });

  it('gives the document the worst status and the outputs, failures first', () => {
    const entry = (key: string, value: number) => ({ key, check: measure(at, { value, limits: { warn: 1, fail: 2 }, componentType: 'x', output: `${key} is ${value}` }) });
    const doc = healthDocument([entry('a:one', 0), entry('b:two', 1), entry('c:three', 2), entry('c:three', 0)], ['a note']);
    expect(doc.status).toBe('fail');
    expect(doc.checks['c:three']).toHaveLength(2);
    expect(doc.output).toBe('c:three: c:three is 2\nb:two: b:two is 1');
    expect(doc.notes).toEqual(['a note']);
    expect(healthDocument([entry('a:one', 0)]).status).toBe('pass');
    expect(healthDocument([entry('a:one', 0)]).output).toBeUndefined();
  });
});

describe('which database `jeex-db health` checks', () => {
  it('--url, then JEEX_DB_MONITOR_URL, then DATABASE_URL', () => {
    const env = { JEEX_DB_MONITOR_URL: 'postgres://monitor@h/db', DATABASE_URL: 'postgres://app@h/db' };
    expect(resolveHealthTarget({ url: 'postgres://flag@h/db' }, env)).toEqual({ url: 'postgres://flag@h/db', source: 'flag' });
    expect(resolveHealthTarget({}, env)).toEqual({ url: 'postgres://monitor@h/db', source: 'JEEX_DB_MONITOR_URL' });
    expect(resolveHealthTarget({}, { DATABASE_URL: 'postgres://app@h/db' })).toEqual({ url: 'postgres://app@h/db', source: 'DATABASE_URL' });
  });

  it("else the local cluster's monitoring role (the superuser before it existed) on the app database, with its PgBouncer's admin console", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jeex-health-target-'));
    try {
      const roles = { superuser: 'postgres', migrator: 'jeex_migrator', app: 'jeex_app' };
      const state = { version: 1, pgMajor: 18, host: '127.0.0.1', port: 5418, database: 'jeex', roles };
      const secret = (user: string) => ({ user, password: `${user}/pw` });
      const secrets = { version: 1, superuser: secret('postgres'), migrator: secret('jeex_migrator'), app: secret('jeex_app'), pooler: secret('jeex_pgbouncer') };
      await writeFile(join(dir, 'secrets.json'), JSON.stringify(secrets));
      await writeFile(join(dir, 'state.json'), JSON.stringify(state));
      // The local cluster's disks (the archive's once it exists) and its repository for backup:age.
      const localChecks = { disks: { dataDir: join(dir, 'pgdata') }, backupRepo: { root: join(dir, 'backups'), wal: join(dir, 'backups', 'wal'), base: join(dir, 'backups', 'base') } };
      expect(resolveHealthTarget({ dataDir: dir }, {})).toEqual({ url: 'postgres://postgres:postgres%2Fpw@127.0.0.1:5418/jeex', source: 'local', localChecks });
      await mkdir(join(dir, 'backups', 'wal'), { recursive: true });
      expect(resolveHealthTarget({ dataDir: dir }, {}).localChecks?.disks).toEqual({ dataDir: join(dir, 'pgdata'), archiveDir: join(dir, 'backups', 'wal') });
      await writeFile(join(dir, 'state.json'), JSON.stringify({ ...state, pooler: { port: 6418, version: '1.18.0', preparedStatements: false } }));
      expect(resolveHealthTarget({ dataDir: dir }, {})).toEqual({
        url: 'postgres://postgres:postgres%2Fpw@127.0.0.1:5418/jeex',
        source: 'local',
        poolerConsoleUrl: 'postgres://jeex_pgbouncer:jeex_pgbouncer%2Fpw@127.0.0.1:6418/pgbouncer',
        localChecks: { disks: { dataDir: join(dir, 'pgdata'), archiveDir: join(dir, 'backups', 'wal') }, backupRepo: localChecks.backupRepo },
      });
      // A cluster with TLS (the default): both URLs verify the server, the console's too.
      await writeFile(join(dir, 'state.json'), JSON.stringify({ ...state, pooler: { port: 6418, version: '1.18.0', preparedStatements: false }, tls: { rootCert: '/d/tls/ca.crt' } }));
      expect(resolveHealthTarget({ dataDir: dir }, {})).toEqual({
        url: 'postgres://postgres:postgres%2Fpw@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/d/tls/ca.crt',
        source: 'local',
        poolerConsoleUrl: 'postgres://jeex_pgbouncer:jeex_pgbouncer%2Fpw@127.0.0.1:6418/pgbouncer?sslmode=verify-full&sslrootcert=/d/tls/ca.crt',
        localChecks: { disks: { dataDir: join(dir, 'pgdata'), archiveDir: join(dir, 'backups', 'wal') }, backupRepo: localChecks.backupRepo },
      });
      expect(() => resolveHealthTarget({ dataDir: join(dir, 'nothing') }, {})).toThrow(/no database to check/);
      // With the monitoring role (secrets.json written by `up` since roles apply): pg_monitor, not the superuser.
      await writeFile(join(dir, 'secrets.json'), JSON.stringify({ ...secrets, monitor: secret('jeex_monitor') }));
      // (the state still says TLS: the URLs verify the server)
      expect(resolveHealthTarget({ dataDir: dir }, {}).url).toBe('postgres://jeex_monitor:jeex_monitor%2Fpw@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/d/tls/ca.crt');
      expect(resolveHealthTarget({ dataDir: dir, localRole: 'superuser' }, {}).url).toBe('postgres://postgres:postgres%2Fpw@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/d/tls/ca.crt');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
