import type { Sql } from 'postgres';
import type { ScheduleState } from '../backup/scheduler.ts';
import type { OperationStats } from '../../db/operation-window.ts';
import { status as migrationStatus } from '../../migrate/runner.ts';
import type { DriftReport } from '../../migrate/live-drift-status.ts';
import { poolerSnapshot } from '../pooler/metrics.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { describeExit } from '../pooler/process.ts';
import type { PoolerSupervisorState } from '../pooler/supervise.ts';
import { describeError, HealthTimeout, withTimeout } from './bounded.ts';
import { measure, round, type BaseContext, type CheckContext, type CheckSpec, type Entry } from './measure.ts';

/** The app pool's state, as `createDb(...).pool()` returns it. */
export interface PoolState {
  used: number;
  pending: number;
  max: number;
  open: number;
}

const entry = (key: string, ctx: BaseContext, m: Parameters<typeof measure>[1]): Entry => ({ key, check: measure(ctx.now, m) });

export function poolCheck(pool: () => PoolState): CheckSpec<BaseContext> {
  return {
    what: "the app's connection pool",
    key: 'pool:usage',
    componentType: 'pool',
    run: async (ctx) => {
      const state = pool();
      const t = ctx.thresholds;
      const percent = state.max > 0 ? (state.used / state.max) * 100 : 0;
      const described = `${state.used} of ${state.max} connections in use, ${state.pending} request(s) waiting, ${state.open} open`;
      return Promise.resolve([
        entry('pool:usage', ctx, {
          value: round(percent, 2),
          exact: percent,
          unit: '%',
          limits: { warn: t.poolUsageWarnPercent, fail: t.poolUsageFailPercent },
          componentType: 'pool',
          output: `the app's pool is nearly full (${described}): raise its max (JEEX_DB_POOL_MAX) if PostgreSQL has room, or find what holds connections (long queries, transactions left open)`,
        }),
        entry('pool:waiting', ctx, {
          value: state.pending,
          unit: '{request}',
          limits: { warn: t.poolWaitingWarn, fail: t.poolWaitingFail },
          componentType: 'pool',
          output: `requests wait for a connection of the app's pool (${described}): they time out after JEEX_DB_ACQUIRE_TIMEOUT; raise JEEX_DB_POOL_MAX or make the slow work shorter`,
        }),
      ]);
    },
  };
}

/** The app's operation times over the last minute (`createDb(...).operations()`) against the SLO. */
export function operationsCheck(operations: () => OperationStats): CheckSpec<BaseContext> {
  return {
    what: "the app's operation times",
    key: 'pool:operationP95',
    componentType: 'pool',
    run: async (ctx) => {
      const stats = operations();
      const t = ctx.thresholds;
      const enough = stats.count >= (t.operationMinCount ?? 0);
      if (!enough) ctx.note(`pool:operationP95: ${stats.count} operation(s) in the last ${stats.windowSeconds} s, fewer than operationMinCount (${t.operationMinCount ?? 0}): not judged`);
      return Promise.resolve([
        entry('pool:operationP95', ctx, {
          value: stats.p95Ms === null ? null : round(stats.p95Ms, 2),
          unit: 'ms',
          limits: enough ? { warn: t.operationP95WarnMs, fail: t.operationP95FailMs } : {},
          componentType: 'pool',
          output: `the slowest 5% of the app's ${stats.count} operations in the last ${stats.windowSeconds} s took ${stats.p95Ms === null ? '?' : round(stats.p95Ms, 1)} ms or more (p99 ${stats.p99Ms === null ? '?' : round(stats.p99Ms, 1)} ms): find the slow statements (\`jeex-db diagnose\`, pg_stat_statements) and whether requests wait for connections (pool:waiting, pgbouncer:clientsWaiting)`,
        }),
      ]);
    },
  };
}

/** Whether an error means PgBouncer itself does not answer (refused, reset, no answer in time), not that it answered no. */
function poolerDown(error: unknown): boolean {
  return error instanceof HealthTimeout || translateDbError(error).code === 'CONNECTION_FAILED';
}

/**
 * PgBouncer's console: `pgbouncer:reachable` (fail when it does not answer and the app's
 * connections go through it, `inAppPath`; warn when they do not), then its pools' queue.
 */
export function poolerCheck(admin: Sql, options: { inAppPath?: boolean } = {}): CheckSpec<BaseContext> {
  const inAppPath = options.inAppPath ?? true;
  return {
    what: "PgBouncer's pools (SHOW POOLS on its admin console)",
    key: 'pgbouncer:clientsWaiting',
    componentType: 'pgbouncer',
    run: async (ctx) => {
      let snapshot: Awaited<ReturnType<typeof poolerSnapshot>>;
      try {
        snapshot = await withTimeout(poolerSnapshot(admin), ctx.timeoutMs, "PgBouncer's admin console");
      } catch (error) {
        if (!poolerDown(error)) throw error;
        const where = inAppPath ? "the app's connections go through it, so they fail too" : "the app's connections do not go through it";
        return [
          entry('pgbouncer:reachable', ctx, {
            value: false,
            status: inAppPath ? 'fail' : 'warn',
            componentType: 'pgbouncer',
            output: `PgBouncer does not answer (${describeError(error).text.replace(/\.$/, '')}): ${where}. Locally \`jeex-db up\` starts it again (\`up\` in the foreground and \`jeex-db serve\` restart it on their own; pgbouncer:restarts says whether that fails); read pgbouncer/pgbouncer.log in the data directory for why it stopped`,
          }),
        ];
      }
      const t = ctx.thresholds;
      const busiest = snapshot.pools.filter((p) => p.clientsWaiting > 0).sort((a, b) => b.maxWaitSeconds - a.maxWaitSeconds);
      const where = busiest.length
        ? ` (${busiest.map((p) => `${p.database}/${p.user}: ${p.clientsWaiting} waiting, ${p.serversActive} server connection(s) busy`).join('; ')})`
        : '';
      const advice = "every server connection is busy: raise default_pool_size in pgbouncer.ini if PostgreSQL has room (max_connections), or shorten the transactions; clients fail after query_wait_timeout";
      return [
        entry('pgbouncer:reachable', ctx, { value: true, componentType: 'pgbouncer' }),
        entry('pgbouncer:clientsWaiting', ctx, {
          value: snapshot.totals.clientsWaiting,
          unit: '{client}',
          limits: { warn: t.poolerWaitingWarn, fail: t.poolerWaitingFail },
          componentType: 'pgbouncer',
          output: `${snapshot.totals.clientsWaiting} client(s) wait in PgBouncer${where}: ${advice}`,
        }),
        entry('pgbouncer:maxWait', ctx, {
          value: round(snapshot.totals.maxWaitSeconds, 3),
          unit: 's',
          limits: { warn: t.poolerMaxWaitWarnSeconds, fail: t.poolerMaxWaitFailSeconds },
          componentType: 'pgbouncer',
          output: `the oldest client waiting in PgBouncer has waited ${round(snapshot.totals.maxWaitSeconds, 3)} s${where}: ${advice}`,
        }),
      ];
    },
  };
}

/** What `pgbouncer:restarts` reads of a PgBouncer supervisor (`supervisePooler(...).state`). */
export type PoolerSupervisionState = Pick<PoolerSupervisorState, 'status' | 'restarts' | 'attempts' | 'lastError'>;

/** Deaths of PgBouncer counted by `pgbouncer:restarts` unless `poolerRestartWindowSeconds` says otherwise: those of the last 15 minutes. */
export const POOLER_RESTART_WINDOW_MS = 15 * 60_000;

/** `in the last 15 minutes`, `in the last 90 s`. */
const lastWindow = (ms: number) => (ms % 60_000 === 0 ? `in the last ${ms / 60_000} minute${ms === 60_000 ? '' : 's'}` : `in the last ${Math.round(ms / 1000)} s`);

/**
 * The supervisor's view: `pgbouncer:restarts` is how many times PgBouncer died in the last 15
 * minutes (`poolerRestartWindowSeconds`; it was restarted, or is being), warn from the first, fail while the restarts keep
 * failing (`failing`). A restart within a second is never seen by `pgbouncer:reachable`.
 */
export function poolerSupervisionCheck(supervision: () => PoolerSupervisionState): CheckSpec<BaseContext> {
  return {
    what: "PgBouncer's supervisor",
    key: 'pgbouncer:restarts',
    componentType: 'pgbouncer',
    run: async (ctx) => {
      const s = supervision();
      const windowMs = ctx.thresholds.poolerRestartWindowSeconds !== undefined ? ctx.thresholds.poolerRestartWindowSeconds * 1000 : POOLER_RESTART_WINDOW_MS;
      const since = ctx.now().getTime() - windowMs;
      const recent = s.restarts.filter((r) => r.at.getTime() >= since);
      const last = recent.at(-1);
      const how = last ? `the last at ${last.at.toISOString()}, ${describeExit(last.exit)}` : '';
      let status: 'pass' | 'warn' | 'fail' = recent.length > 0 || s.status === 'restarting' ? 'warn' : 'pass';
      let output = `PgBouncer died ${recent.length} time(s) ${lastWindow(windowMs)} (${how}) and was restarted${s.status === 'restarting' ? ' (a restart is under way)' : ''}: read pgbouncer/pgbouncer.log in the data directory for why (the supervisor's log lines carry its last lines)`;
      if (s.status === 'failing') {
        status = 'fail';
        output = `PgBouncer keeps dying or cannot be started: ${s.attempts} restart(s) without staying up${s.lastError ? `, the last failed: ${s.lastError}` : ''}. The app's connections through it fail; read pgbouncer/pgbouncer.log, fix the cause and run \`jeex-db up\``;
      }
      return Promise.resolve([entry('pgbouncer:restarts', ctx, { value: recent.length, unit: '{restart}', status, componentType: 'pgbouncer', output })]);
    },
  };
}

export function migrationsCheck(migrationsDir: string): CheckSpec {
  return {
    what: 'the migrations',
    key: 'migrations:pending',
    componentType: 'migrations',
    run: async (ctx: CheckContext) => {
      const result = await withTimeout(migrationStatus(ctx.sql, { migrationsDir }), ctx.timeoutMs, 'reading the migration ledger');
      const broken = result.migrations.filter((m) => m.state === 'failed' || m.state === 'interrupted');
      const [problem] = result.problems;
      let status: 'pass' | 'warn' | 'fail' = result.pending.length > 0 ? 'warn' : 'pass';
      let output = `${result.pending.length} migration(s) not applied: ${result.pending.join(', ')}; run \`jeex-db migrate\` (a service refuses to start with assertUpToDate)`;
      if (broken.length > 0) {
        status = 'fail';
        output = `migration ${broken.map((m) => `${m.name} (${m.state})`).join(', ')} did not complete: read its error in jeex_migrations.ledger (\`jeex-db status\`), fix it and run \`jeex-db migrate\` again`;
      } else if (problem) {
        status = 'fail';
        const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more problem(s); \`jeex-db status\` lists them)` : '';
        output = `[${problem.code}] ${problem.message}: ${problem.hint}${more}`;
      }
      return [
        {
          key: 'migrations:pending',
          check: measure(ctx.now, { value: result.pending.length, unit: '{migration}', status, componentType: 'migrations', componentId: ctx.facts.database, output }),
        },
        driftEntry(result.drift, ctx),
      ];
    },
  };
}

/**
 * `migrations:drift`: objects where the live schema differs from the one recorded after the last
 * migration run (warn, each object named; a hand-made change is not an outage, but the next
 * migration may fail on it or undo it). No record yet is a pass with a note.
 */
function driftEntry(drift: DriftReport, ctx: CheckContext): Entry {
  const count = drift.differences.length;
  const listed = drift.differences.slice(0, 10).map((d) => d.message).join('; ');
  const output =
    count > 0
      ? `the schema differs from what the applied migrations make in ${count} object(s): ${listed}${count > 10 ? `; and ${count - 10} more` : ''}. \`jeex-db status\` lists them: undo the hand-made changes, or make them a migration`
      : drift.note;
  return {
    key: 'migrations:drift',
    check: measure(ctx.now, {
      value: count,
      unit: '{object}',
      status: count > 0 ? 'warn' : 'pass',
      componentType: 'migrations',
      componentId: ctx.facts.database,
      ...(output ? { output } : {}),
    }),
  };
}

export function backupCheck(lastBackup: () => Promise<Date | undefined>, where?: { repo: string; unverified: number }): CheckSpec<BaseContext> {
  return {
    what: 'the last backup',
    key: 'backup:age',
    componentType: 'backup',
    run: async (ctx) => {
      const last = await withTimeout(lastBackup(), ctx.timeoutMs, 'the last-backup lookup');
      const t = ctx.thresholds;
      if (!last) {
        const output = where
          ? `none of the ${where.unverified} backup(s) in ${where.repo} passed verification: run \`jeex-db verify\` (and \`jeex-db backup\` if it fails), and schedule them`
          : 'no backup was found: take one now and schedule them';
        return [entry('backup:age', ctx, { value: null, unit: 's', status: 'fail', componentType: 'backup', output })];
      }
      const age = Math.max(0, (ctx.now().getTime() - last.getTime()) / 1000);
      return [
        entry('backup:age', ctx, {
          value: round(age, 0),
          unit: 's',
          limits: { warn: t.backupAgeWarnSeconds, fail: t.backupAgeFailSeconds },
          componentType: 'backup',
          output: `the last backup finished ${round(age / 3600, 1)} h ago (${last.toISOString()}): check that the scheduled backup runs and succeeds, then take one`,
        }),
      ];
    },
  };
}

/** What `backup:lastRun` reads of a backup schedule (`startBackupSchedule(...).state`). */
export type BackupScheduleState = Pick<ScheduleState, 'consecutiveFailures' | 'maxAttempts' | 'lastSuccessAt' | 'lastFailureAt' | 'lastError' | 'missedRuns' | 'lastMissedAt' | 'schedule'>;

/** The scheduled backups: fail when a run used up its attempts, warn while retrying or after a missed run. */
export function backupScheduleCheck(schedule: () => BackupScheduleState): CheckSpec<BaseContext> {
  return {
    what: 'the scheduled backups',
    key: 'backup:lastRun',
    componentType: 'backup',
    run: async (ctx) => {
      const s = schedule();
      const missedSinceSuccess = s.lastMissedAt !== undefined && (!s.lastSuccessAt || s.lastMissedAt > s.lastSuccessAt);
      let status: 'pass' | 'warn' | 'fail' = 'pass';
      let output = '';
      if (s.consecutiveFailures >= s.maxAttempts) {
        status = 'fail';
        output = `the last scheduled backup failed ${s.consecutiveFailures} time(s) in a row (last at ${s.lastFailureAt?.toISOString() ?? '?'}: ${s.lastError ?? 'unknown error'}): fix the cause, then run \`jeex-db backup\` and \`jeex-db verify\`; the schedule tries again at its next time`;
      } else if (s.consecutiveFailures > 0) {
        status = 'warn';
        output = `a scheduled backup attempt failed (${s.consecutiveFailures} of ${s.maxAttempts}, ${s.lastError ?? 'unknown error'}): it is being retried`;
      } else if (missedSinceSuccess) {
        status = 'warn';
        output = `${s.missedRuns} scheduled backup time(s) of "${s.schedule}" were missed (the last at ${s.lastMissedAt?.toISOString() ?? '?'}) and none succeeded since: a run overran the next time, or the process was not running; check the serve process and the backup duration`;
      }
      return Promise.resolve([entry('backup:lastRun', ctx, { value: s.consecutiveFailures, unit: '{failure}', status, componentType: 'backup', output })]);
    },
  };
}
