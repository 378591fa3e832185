import { BYTES_EXPECTED, DURATION_UNITS, durationExpected, parseBytes, parseDuration } from '../../core/units.ts';

/**
 * Every limit `checkHealth` judges by, with its default. Each can be overridden in code
 * (`checkHealth(sql, { thresholds: { connectionsWarnPercent: 70 } })`) or by the environment,
 * `JEEX_HEALTH_<NAME>` with the name in upper snake case
 * (`JEEX_HEALTH_CONNECTIONS_WARN_PERCENT=70`); code wins over the environment. An optional
 * threshold is off unless set; `off` turns any of them off (`JEEX_HEALTH_POOL_WAITING_WARN=off`).
 * In the environment a time may carry a unit and a size a unit (core/units.ts):
 * `JEEX_HEALTH_BACKUP_AGE_WARN_SECONDS=26h`, `JEEX_HEALTH_DATABASE_SIZE_WARN_BYTES=50GB`; a plain
 * number is in the unit the name ends with.
 */
export interface HealthThresholds {
  /** Round trip of `SELECT 1`, ms. */
  responseTimeWarnMs?: number;
  responseTimeFailMs?: number;
  /** Client connections as a share of `max_connections`, %. */
  connectionsWarnPercent?: number;
  connectionsFailPercent?: number;
  /** The app pool's connections in use as a share of its `max`, %. */
  poolUsageWarnPercent?: number;
  poolUsageFailPercent?: number;
  /** Requests waiting for a connection of the app pool. */
  poolWaitingWarn?: number;
  poolWaitingFail?: number;
  /** p95 of the app's operation times over the last minute, ms (the SLO; PERF-001 asks < 100 ms). */
  operationP95WarnMs?: number;
  operationP95FailMs?: number;
  /** Operations the window must hold before its p95 is judged. */
  operationMinCount?: number;
  /** PgBouncer clients waiting for a server connection (all pools). */
  poolerWaitingWarn?: number;
  poolerWaitingFail?: number;
  /** How long PgBouncer's oldest waiting client has waited, s. */
  poolerMaxWaitWarnSeconds?: number;
  poolerMaxWaitFailSeconds?: number;
  /** `pgbouncer:restarts` counts the deaths of this last window, s (its alert resolves this long after the last one). */
  poolerRestartWindowSeconds?: number;
  /** Age of the oldest open transaction, s. */
  transactionAgeWarnSeconds?: number;
  transactionAgeFailSeconds?: number;
  /** Sessions idle in transaction. */
  idleInTransactionWarn?: number;
  idleInTransactionFail?: number;
  /** How long the longest session has sat idle in transaction, s. */
  idleInTransactionWarnSeconds?: number;
  idleInTransactionFailSeconds?: number;
  /** Buffer cache hit ratio (0..1); judged only after `cacheHitMinBlocks` block accesses. */
  cacheHitWarnRatio?: number;
  cacheHitFailRatio?: number;
  cacheHitMinBlocks?: number;
  /** `age(datfrozenxid)` of the oldest database as a share of 2^31 (wraparound), %. */
  xidAgeWarnPercent?: number;
  xidAgeFailPercent?: number;
  /**
   * Replay lag, s: on a standby, since the last replayed transaction while received WAL is
   * outstanding (0 when everything received is replayed); on a primary, each standby's replay_lag.
   */
  replicationLagWarnSeconds?: number;
  replicationLagFailSeconds?: number;
  /** The same lag in bytes of WAL (on a standby: received, not replayed; on a primary: written, not replayed by the standby). */
  replicationLagWarnBytes?: number;
  replicationLagFailBytes?: number;
  /** On a standby: a WAL receiver that does not stream warns, and fails after this long, s. */
  notStreamingFailSeconds?: number;
  /** On a standby: seconds since the last message from the primary while streaming. */
  walReceiverMessageAgeWarnSeconds?: number;
  walReceiverMessageAgeFailSeconds?: number;
  /**
   * On a primary: warn when fewer standbys stream. Unset: as many as there are physical
   * replication slots (each is a standby's reservation); 0: none expected.
   */
  replicasMin?: number;
  /** A replication slot no client has used for this long warns (it keeps WAL from removal), s. */
  slotInactiveWarnSeconds?: number;
  /** A slot whose safe_wal_size is below this share of max_slot_wal_keep_size warns, %. */
  slotSafeWalWarnPercent?: number;
  /** `pg_database_size` of the current database, bytes. */
  databaseSizeWarnBytes?: number;
  databaseSizeFailBytes?: number;
  /** pg_stat_statements: a statement whose mean_exec_time exceeds this is slow, ms. */
  slowStatementMs?: number;
  /** How many slow statements make a warn / fail. */
  slowStatementsWarn?: number;
  slowStatementsFail?: number;
  /** Age of the last backup (when `lastBackup` is given), s. */
  backupAgeWarnSeconds?: number;
  backupAgeFailSeconds?: number;
  /** Free space of the filesystem under the data directory / the WAL archive (`disks`), % of its size. */
  diskFreeWarnPercent?: number;
  diskFreeFailPercent?: number;
  /** The same free space in bytes (off unless set). */
  diskFreeWarnBytes?: number;
  diskFreeFailBytes?: number;
  /** WAL segments waiting for the archiver (`.ready` files in pg_wal/archive_status; off unless set). */
  archiveBacklogWarnFiles?: number;
  archiveBacklogFailFiles?: number;
  /** How long the oldest segment has waited for the archiver, s. */
  archiveBacklogWarnSeconds?: number;
  archiveBacklogFailSeconds?: number;
  /** `postgresql:slowStatements` judges the calls of this last window (between health checks on one client), s. */
  slowStatementWindowSeconds?: number;
}

export type ThresholdName = keyof HealthThresholds;

/** The defaults; a name absent here is an optional threshold, off unless set. */
export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  responseTimeWarnMs: 100,
  responseTimeFailMs: 1000,
  connectionsWarnPercent: 80,
  connectionsFailPercent: 95,
  poolUsageWarnPercent: 90,
  poolWaitingWarn: 1,
  operationP95WarnMs: 100,
  operationP95FailMs: 500,
  operationMinCount: 20,
  poolerWaitingWarn: 1,
  poolerMaxWaitWarnSeconds: 1,
  poolerMaxWaitFailSeconds: 10,
  poolerRestartWindowSeconds: 900,
  transactionAgeWarnSeconds: 300,
  transactionAgeFailSeconds: 3600,
  idleInTransactionWarn: 5,
  idleInTransactionWarnSeconds: 30,
  idleInTransactionFailSeconds: 300,
  cacheHitWarnRatio: 0.95,
  cacheHitMinBlocks: 10_000,
  xidAgeWarnPercent: 50,
  xidAgeFailPercent: 75,
  replicationLagWarnSeconds: 30,
  replicationLagFailSeconds: 300,
  notStreamingFailSeconds: 30,
  walReceiverMessageAgeWarnSeconds: 40,
  walReceiverMessageAgeFailSeconds: 120,
  slotInactiveWarnSeconds: 60,
  slotSafeWalWarnPercent: 20,
  slowStatementMs: 500,
  slowStatementsWarn: 1,
  backupAgeWarnSeconds: 25 * 3600,
  backupAgeFailSeconds: 48 * 3600,
  diskFreeWarnPercent: 15,
  diskFreeFailPercent: 5,
  archiveBacklogWarnSeconds: 300,
  archiveBacklogFailSeconds: 1800,
  slowStatementWindowSeconds: 300,
});

type Kind = 'count' | 'percent' | 'ratio' | 'duration' | 'bytes';

/** Every threshold name, with what kind of number it takes (for validation). */
const KINDS: Record<ThresholdName, Kind> = {
  responseTimeWarnMs: 'duration',
  responseTimeFailMs: 'duration',
  connectionsWarnPercent: 'percent',
  connectionsFailPercent: 'percent',
  poolUsageWarnPercent: 'percent',
  poolUsageFailPercent: 'percent',
  poolWaitingWarn: 'count',
  poolWaitingFail: 'count',
  operationP95WarnMs: 'duration',
  operationP95FailMs: 'duration',
  operationMinCount: 'count',
  poolerWaitingWarn: 'count',
  poolerWaitingFail: 'count',
  poolerMaxWaitWarnSeconds: 'duration',
  poolerMaxWaitFailSeconds: 'duration',
  poolerRestartWindowSeconds: 'duration',
  transactionAgeWarnSeconds: 'duration',
  transactionAgeFailSeconds: 'duration',
  idleInTransactionWarn: 'count',
  idleInTransactionFail: 'count',
  idleInTransactionWarnSeconds: 'duration',
  idleInTransactionFailSeconds: 'duration',
  cacheHitWarnRatio: 'ratio',
  cacheHitFailRatio: 'ratio',
  cacheHitMinBlocks: 'count',
  xidAgeWarnPercent: 'percent',
  xidAgeFailPercent: 'percent',
  replicationLagWarnSeconds: 'duration',
  replicationLagFailSeconds: 'duration',
  replicationLagWarnBytes: 'bytes',
  replicationLagFailBytes: 'bytes',
  notStreamingFailSeconds: 'duration',
  walReceiverMessageAgeWarnSeconds: 'duration',
  walReceiverMessageAgeFailSeconds: 'duration',
  replicasMin: 'count',
  slotInactiveWarnSeconds: 'duration',
  slotSafeWalWarnPercent: 'percent',
  databaseSizeWarnBytes: 'bytes',
  databaseSizeFailBytes: 'bytes',
  slowStatementMs: 'duration',
  slowStatementsWarn: 'count',
  slowStatementsFail: 'count',
  backupAgeWarnSeconds: 'duration',
  backupAgeFailSeconds: 'duration',
  diskFreeWarnPercent: 'percent',
  diskFreeFailPercent: 'percent',
  diskFreeWarnBytes: 'bytes',
  diskFreeFailBytes: 'bytes',
  archiveBacklogWarnFiles: 'count',
  archiveBacklogFailFiles: 'count',
  archiveBacklogWarnSeconds: 'duration',
  archiveBacklogFailSeconds: 'duration',
  slowStatementWindowSeconds: 'duration',
};

export const THRESHOLD_NAMES = Object.keys(KINDS) as ThresholdName[];

/** Pairs whose warn must come before fail: [warn, fail, lower values are worse]. */
const PAIRS: [ThresholdName, ThresholdName, boolean][] = [
  ['responseTimeWarnMs', 'responseTimeFailMs', false],
  ['connectionsWarnPercent', 'connectionsFailPercent', false],
  ['poolUsageWarnPercent', 'poolUsageFailPercent', false],
  ['poolWaitingWarn', 'poolWaitingFail', false],
  ['operationP95WarnMs', 'operationP95FailMs', false],
  ['poolerWaitingWarn', 'poolerWaitingFail', false],
  ['poolerMaxWaitWarnSeconds', 'poolerMaxWaitFailSeconds', false],
  ['transactionAgeWarnSeconds', 'transactionAgeFailSeconds', false],
  ['idleInTransactionWarn', 'idleInTransactionFail', false],
  ['idleInTransactionWarnSeconds', 'idleInTransactionFailSeconds', false],
  ['cacheHitWarnRatio', 'cacheHitFailRatio', true],
  ['xidAgeWarnPercent', 'xidAgeFailPercent', false],
  ['replicationLagWarnSeconds', 'replicationLagFailSeconds', false],
  ['replicationLagWarnBytes', 'replicationLagFailBytes', false],
  ['walReceiverMessageAgeWarnSeconds', 'walReceiverMessageAgeFailSeconds', false],
  ['databaseSizeWarnBytes', 'databaseSizeFailBytes', false],
  ['slowStatementsWarn', 'slowStatementsFail', false],
  ['backupAgeWarnSeconds', 'backupAgeFailSeconds', false],
  ['diskFreeWarnPercent', 'diskFreeFailPercent', true],
  ['diskFreeWarnBytes', 'diskFreeFailBytes', true],
  ['archiveBacklogWarnFiles', 'archiveBacklogFailFiles', false],
  ['archiveBacklogWarnSeconds', 'archiveBacklogFailSeconds', false],
];

/** `connectionsWarnPercent` → `JEEX_HEALTH_CONNECTIONS_WARN_PERCENT`. */
export function thresholdEnvName(name: ThresholdName): string {
  return `JEEX_HEALTH_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

export interface ResolvedThresholds {
  thresholds: HealthThresholds;
  /** Every invalid value, each naming the variable or option to fix; its default was kept. */
  problems: string[];
}

function invalid(kind: Kind, value: number): string | undefined {
  if (!Number.isFinite(value) || value < 0) return 'a number of at least 0';
  if (kind === 'percent' && value > 100) return 'a percentage from 0 to 100';
  if (kind === 'ratio' && value > 1) return 'a ratio from 0 to 1';
  return undefined;
}

/**
 * The thresholds in force: `overrides` (from code), then `JEEX_HEALTH_*` in `env`, then the
 * defaults. An override of `undefined` keeps the next source; `null` in code or `off` in the
 * environment turns the threshold off. Invalid values are reported (all at once), not thrown,
 * so a health check never fails on its own configuration.
 *
 * @example
 * resolveHealthThresholds({ slowStatementMs: 200 }, { JEEX_HEALTH_CONNECTIONS_WARN_PERCENT: '70' });
 * // { thresholds: { ..., slowStatementMs: 200, connectionsWarnPercent: 70 }, problems: [] }
 */
export function resolveHealthThresholds(
  overrides: { [K in ThresholdName]?: number | null } = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedThresholds {
  const thresholds: HealthThresholds = { ...DEFAULT_HEALTH_THRESHOLDS };
  const problems: string[] = [];
  for (const name of THRESHOLD_NAMES) {
    const variable = thresholdEnvName(name);
    const raw = env[variable]?.trim();
    if (raw !== undefined && raw !== '') {
      if (raw.toLowerCase() === 'off') delete thresholds[name];
      else {
        const { value, expected: unreadable } = fromEnvironment(name, raw);
        const expected = unreadable ?? invalid(KINDS[name], value);
        if (expected) problems.push(`${variable}=${raw} is not ${expected}; using ${describe(thresholds[name])}`);
        else thresholds[name] = value;
      }
    }
    if (!(name in overrides)) continue;
    const value = overrides[name];
    if (value === undefined) continue;
    if (value === null) {
      delete thresholds[name];
      continue;
    }
    const expected = invalid(KINDS[name], value);
    if (expected) problems.push(`thresholds.${name} = ${value} is not ${expected}; using ${describe(thresholds[name])}`);
    else thresholds[name] = value;
  }
  for (const [warn, fail, lowerIsWorse] of PAIRS) {
    const w = thresholds[warn];
    const f = thresholds[fail];
    if (w === undefined || f === undefined) continue;
    if (lowerIsWorse ? w < f : w > f) {
      problems.push(`${warn} (${w}) is ${lowerIsWorse ? 'below' : 'above'} ${fail} (${f}): a warning must come before a failure; set ${thresholdEnvName(warn)} or ${thresholdEnvName(fail)}`);
    }
  }
  return { thresholds, problems };
}

/** A threshold's value from its variable: a time or size in the grammar of core/units.ts, else a number. */
function fromEnvironment(name: ThresholdName, raw: string): { value: number; expected?: string } {
  const kind = KINDS[name];
  if (kind === 'duration') {
    const defaultUnit = name.endsWith('Ms') ? 'ms' : 's';
    const ms = parseDuration(raw, { defaultUnit });
    return ms === undefined ? { value: Number.NaN, expected: durationExpected({ defaultUnit }) } : { value: ms / DURATION_UNITS[defaultUnit] };
  }
  if (kind === 'bytes') {
    const bytes = parseBytes(raw);
    return bytes === undefined ? { value: Number.NaN, expected: BYTES_EXPECTED } : { value: bytes };
  }
  return { value: Number(raw) };
}

const describe = (value: number | undefined) => (value === undefined ? 'none (off)' : `the default ${value}`);
