import { metrics, type BatchObservableCallback, type Meter } from '@opentelemetry/api';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { localLayout } from '../../local/layout.ts';
import type { RunAs } from '../../platform/exec.ts';
import { takeBaseBackup } from './base-backup.ts';
import { pruneBackups, type PruneResult } from './prune.ts';
import type { BackupRepo } from './repo.ts';
import { verifyBackup, type VerifyResult } from './verify.ts';
import { sleep } from '../../core/sleep.ts';
import { backoffDelay } from '../../core/backoff.ts';

/** What one attempt of a scheduled run produced: the backup, its verification, the pruning. */
export interface BackupRun {
  id: string;
  /** Bytes the repository stores for the backup (base.tar.gz). */
  sizeBytes: number;
  /** False: the backup was taken but its verification failed (the attempt is retried). */
  verified: boolean;
  problems: string[];
  /** What pruning reported (absent when the verification failed), or why it failed (the backup still counts). */
  pruned?: PruneResult | { error: string };
}

/** The schedule's state, for health (`backup:lastRun`, `backup:age`) and for people. */
export interface ScheduleState {
  schedule: string;
  running: boolean;
  nextRunAt?: Date;
  lastSuccessAt?: Date;
  lastSuccessId?: string;
  lastSuccessSizeBytes?: number;
  lastFailureAt?: Date;
  lastError?: string;
  /** Failed attempts (backup or verification) since the last success; a run gives up at `maxAttempts`. */
  consecutiveFailures: number;
  maxAttempts: number;
  /** Scheduled times that passed without a run starting (since the schedule started). */
  missedRuns: number;
  lastMissedAt?: Date;
}

export interface BackupScheduleOptions {
  /** A cron pattern (5 fields, or 6 with seconds first), e.g. `0 3 * * *`; read in local time. */
  schedule: string;
  /** One attempt: take a backup, verify it, prune (see `backupRunner`). */
  run: (context: { attempt: number; signal: AbortSignal }) => Promise<BackupRun>;
  logger: Logger;
  /** Attempts per scheduled run before it is recorded as failed (default 3). */
  maxAttempts?: number;
  /** The wait before the first retry, doubled each time, at most 15 min (default 60 s). */
  retryDelayMs?: number;
  /** How late a run may start before its scheduled time counts as missed (default: 5 min, at most half the schedule's period). */
  graceMs?: number;
  /** Told after every run (all its attempts). */
  onRun?: (outcome: { ok: boolean; attempts: number; run?: BackupRun; error?: string }) => void;
  /** Default: `metrics.getMeter('jeex-db')` of the global provider. */
  meter?: Meter;
}

export interface BackupSchedule {
  state(): ScheduleState;
  /** Run now (with the retries); joins the run in progress if there is one. Rejects when every attempt failed. */
  runNow(): Promise<BackupRun>;
  /** No more runs; aborts a backup copy in progress and waits for the run to end. */
  stop(): Promise<void>;
}

const MAX_RETRY_DELAY_MS = 15 * 60_000;

/**
 * Run backups on a cron schedule with croner: each run takes a backup, verifies it (the restore
 * proof) and prunes, retrying a failed backup or verification up to `maxAttempts` times with a
 * doubling delay (REQ-007.5). Runs never overlap: a scheduled time that comes while one runs, or
 * passes more than `graceMs` without a run (the process was asleep), counts as missed. Every run,
 * failure and miss is one pino line; metrics: `jeex.backup.last_success`, `jeex.backup.last_size`,
 * `jeex.backup.duration`, `jeex.backup.runs` (outcome success|failed|verify_failed|missed).
 *
 * @example
 * const schedule = startBackupSchedule({ schedule: '0 3 * * *', run: backupRunner({ sql, repo, dataDir: '.jeex-db' }), logger });
 * schedule.state().lastSuccessAt; // Date of the last verified backup
 * await schedule.stop();
 */
export function startBackupSchedule(options: BackupScheduleOptions): BackupSchedule {
  const maxAttempts = options.maxAttempts ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 60_000;
  const { logger } = options;
  let cron: Cron;
  try {
    cron = new Cron(options.schedule, { paused: true });
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `the backup schedule "${options.schedule}" is not a valid cron pattern: ${(error as Error).message}`, {
      cause: error,
      hint: 'Use five fields "minute hour day-of-month month day-of-week" (e.g. "0 3 * * *": every day at 03:00), or six with seconds first.',
      context: { schedule: options.schedule },
    });
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new JeexDbError('INVALID_CONFIG', `maxAttempts must be a whole number of at least 1, got ${maxAttempts}`);
  const [first, second] = cron.nextRuns(2);
  const period = first && second ? second.getTime() - first.getTime() : 86_400_000;
  const graceMs = options.graceMs ?? Math.min(5 * 60_000, Math.max(100, period / 2));

  const state: ScheduleState = { schedule: options.schedule, running: false, consecutiveFailures: 0, maxAttempts, missedRuns: 0 };
  const meter = options.meter ?? metrics.getMeter('jeex-db');
  const lastSuccess = meter.createObservableGauge('jeex.backup.last_success', { unit: 's', description: 'When the last verified scheduled backup finished (unix time)' });
  const lastSize = meter.createObservableGauge('jeex.backup.last_size', { unit: 'By', description: 'Bytes the repository stores for the last verified scheduled backup' });
  const duration = meter.createHistogram('jeex.backup.duration', { unit: 's', description: 'Duration of each backup attempt (backup, verification, pruning)' });
  const runs = meter.createCounter('jeex.backup.runs', { unit: '{run}', description: 'Scheduled backup attempts and missed schedule times, by outcome' });
  const observe: BatchObservableCallback = (result) => {
    if (state.lastSuccessAt) result.observe(lastSuccess, state.lastSuccessAt.getTime() / 1000);
    if (state.lastSuccessSizeBytes !== undefined) result.observe(lastSize, state.lastSuccessSizeBytes);
  };
  meter.addBatchObservableCallback(observe, [lastSuccess, lastSize]);

  const controller = new AbortController();
  let current: Promise<BackupRun> | undefined;
  /** The earliest scheduled time not yet started or counted as missed. */
  let pending = cron.nextRun();

  const missed = (slot: Date, reason: string) => {
    state.missedRuns += 1;
    state.lastMissedAt = new Date();
    runs.add(1, { outcome: 'missed' });
    logger.warn({ event: 'backup.missed', scheduledAt: slot.toISOString(), reason, missedRuns: state.missedRuns }, `scheduled backup of ${slot.toISOString()} missed: ${reason}`);
  };

  /** Count the times before `now` that never ran; return the latest one when a tick is serving it. */
  const takeDue = (now: number, ticking: boolean): Date | undefined => {
    while (pending && pending.getTime() <= now) {
      const slot = pending;
      const next = cron.nextRun(slot);
      if (ticking && (!next || next.getTime() > now)) {
        pending = next;
        return slot;
      }
      if (!ticking && now <= slot.getTime() + graceMs) return undefined;
      pending = next;
      missed(slot, `no run started within ${Math.round(graceMs / 1000)} s of it (the process was not running, asleep or blocked)`);
    }
    return undefined;
  };

  const attempt = async (n: number): Promise<BackupRun> => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let outcome: 'success' | 'failed' | 'verify_failed' = 'failed';
    try {
      const result = await options.run({ attempt: n, signal: controller.signal });
      outcome = result.verified ? 'success' : 'verify_failed';
      if (!result.verified) {
        throw new JeexDbError('BACKUP_VERIFY_FAILED', `backup ${result.id} failed its verification: ${result.problems.join('; ')}`, {
          hint: 'Read the problems above; `jeex-db verify` repeats the check. The schedule retries with a new backup.',
          context: { id: result.id, problems: result.problems },
        });
      }
      return result;
    } finally {
      duration.record(seconds(), { outcome });
      runs.add(1, { outcome });
    }
  };

  const runWithRetries = async (): Promise<BackupRun> => {
    state.running = true;
    let lastError: unknown;
    let n = 0;
    try {
      for (n = 1; n <= maxAttempts && !controller.signal.aborted; n += 1) {
        const begun = Date.now();
        try {
          const result = await attempt(n);
          Object.assign(state, { lastSuccessAt: new Date(), lastSuccessId: result.id, lastSuccessSizeBytes: result.sizeBytes, consecutiveFailures: 0 });
          const { pruned } = result;
          if (pruned && 'error' in pruned) logger.warn({ event: 'backup.prune_failed', id: result.id, error: pruned.error }, `pruning after backup ${result.id} failed: ${pruned.error}`);
          const prunedSummary = pruned && !('error' in pruned) ? { deleted: pruned.deleted, walDeleted: pruned.walDeleted.length, freedBytes: pruned.freedBytes } : undefined;
          logger.info(
            { event: 'backup.success', id: result.id, sizeBytes: result.sizeBytes, attempt: n, durationMs: Date.now() - begun, ...(prunedSummary ? { pruned: prunedSummary } : {}) },
            `scheduled backup ${result.id} taken and verified`,
          );
          options.onRun?.({ ok: true, attempts: n, run: result });
          return result;
        } catch (error) {
          lastError = error;
          if (controller.signal.aborted) break;
          const message = error instanceof Error ? error.message : String(error);
          const code = error instanceof JeexDbError ? error.code : undefined;
          Object.assign(state, { lastFailureAt: new Date(), lastError: message, consecutiveFailures: state.consecutiveFailures + 1 });
          const retry = n < maxAttempts;
          const delay = backoffDelay(n - 1, { initialMs: retryDelayMs, maxMs: MAX_RETRY_DELAY_MS });
          logger.error(
            { event: 'backup.failed', code, error: message, attempt: n, maxAttempts, durationMs: Date.now() - begun, ...(retry ? { retryInMs: delay } : {}) },
            `scheduled backup attempt ${n} of ${maxAttempts} failed${retry ? `; retrying in ${Math.round(delay / 1000)} s` : '; giving up until the next scheduled time'}: ${message}`,
          );
          if (retry) await sleep(delay, { signal: controller.signal });
        }
      }
      const failure = lastError instanceof Error ? lastError : new JeexDbError('BACKUP_FAILED', lastError === undefined ? 'the backup schedule was stopped before the run ended' : `the run failed: ${JSON.stringify(lastError)}`);
      options.onRun?.({ ok: false, attempts: Math.min(n, maxAttempts), error: failure.message });
      throw failure;
    } finally {
      state.running = false;
    }
  };

  const start = (): Promise<BackupRun> => {
    current ??= runWithRetries().finally(() => {
      current = undefined;
    });
    return current;
  };

  const tick = () => {
    const now = Date.now();
    const slot = takeDue(now, true);
    if (current) {
      if (slot) missed(slot, 'the previous run was still going (runs never overlap)');
      return;
    }
    if (slot && now > slot.getTime() + graceMs) missed(slot, `started ${Math.round((now - slot.getTime()) / 1000)} s late; running it now`);
    // Scheduled runs report through the log and the state; nobody awaits them.
    start().catch(() => undefined);
  };

  cron.schedule(tick);
  cron.resume();
  const watchdog = setInterval(() => takeDue(Date.now(), false), Math.max(50, Math.min(graceMs, 30_000)));
  watchdog.unref();
  logger.info({ event: 'backup.schedule', schedule: options.schedule, nextRunAt: cron.nextRun()?.toISOString(), maxAttempts }, `backups scheduled "${options.schedule}"`);

  return {
    state: () => {
      const next = cron.nextRun();
      return { ...state, ...(next ? { nextRunAt: next } : {}) };
    },
    runNow: start,
    stop: async () => {
      cron.stop();
      clearInterval(watchdog);
      controller.abort();
      meter.removeBatchObservableCallback(observe, [lastSuccess, lastSize]);
      await current?.catch(() => undefined);
    },
  };
}

export interface BackupRunnerOptions {
  /** A superuser client connected to the application database (as for `takeBaseBackup`). */
  sql: Sql;
  repo: BackupRepo;
  /** The local cluster's directory (`--data-dir`): its data directory is copied, its binaries restore the proof. */
  dataDir: string;
  /** The OS user the server runs as (`serverOsUser()`), for the scratch restore. */
  as?: RunAs;
  keepCount?: number;
  keepDays?: number;
  /** Read the data directory at most this many bytes per second. */
  maxRate?: number;
  /** An immediate checkpoint instead of a spread one (the default: low impact, slower to start). */
  fast?: boolean;
  /** Instead of `verifyBackup` with the restore proof (tests). */
  verify?: (repo: BackupRepo, id: string) => Promise<Pick<VerifyResult, 'ok' | 'problems'>>;
}

/**
 * One attempt as the schedule runs it: `takeBaseBackup` (spread checkpoint), `verifyBackup` with
 * the restore proof, then `pruneBackups` with the retention given, only after a verified backup.
 *
 * @example
 * startBackupSchedule({ schedule: '0 3 * * *', logger, run: backupRunner({ sql, repo: defaultRepo(localLayout(dir)), dataDir: dir, keepCount: 7 }) });
 */
export function backupRunner(options: BackupRunnerOptions): BackupScheduleOptions['run'] {
  const verify = options.verify ?? ((repo, id) => verifyBackup(repo, id, { sourceDataDir: options.dataDir, ...(options.as ? { as: options.as } : {}) }));
  return async ({ signal }) => {
    const { record } = await takeBaseBackup(options.sql, { repo: options.repo, dataDir: localLayout(options.dataDir).pgdata, signal, ...(options.fast ? { fast: true } : {}), ...(options.maxRate ? { maxRate: options.maxRate } : {}) });
    const verified = await verify(options.repo, record.id);
    const run: BackupRun = { id: record.id, sizeBytes: record.storedBytes, verified: verified.ok, problems: verified.problems };
    if (!verified.ok) return run;
    try {
      run.pruned = await pruneBackups(options.repo, { ...(options.keepCount ? { keepCount: options.keepCount } : {}), ...(options.keepDays ? { keepDays: options.keepDays } : {}) });
    } catch (error) {
      run.pruned = { error: error instanceof Error ? error.message : String(error) };
    }
    return run;
  };
}
