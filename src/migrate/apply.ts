import type { ReservedSql } from 'postgres';
import { translateDbError } from '../db/translate-error.ts';
import { finishLedgerRow, forgetInDrizzle, insertLedgerRow, recordInDrizzle } from './ledger.ts';
import {
  backoff,
  dropInvalidIndex,
  isLockTimeout,
  migrationFailure,
  runStatement,
  timeoutSql,
  timeoutsFor,
  validIndexExists,
  watchBlockers,
  type Blocker,
  type Timeouts,
} from './execute.ts';
import { lockRetryLine } from './lock-wait.ts';
import type { MigrationSession } from './session.ts';
import type { Migration, MigrationScript } from './source.ts';
import type { Statement } from './statements.ts';
import { sleep } from '../core/sleep.ts';

export interface StepResult {
  name: string;
  direction: 'up' | 'down';
  transaction: 'own' | 'none' | 'single';
  durationMs: number;
  /** Extra attempts after lock timeouts. */
  retries: number;
  /** INVALID indexes left by earlier failed builds, dropped before building again. */
  invalidIndexesDropped: string[];
  /** CREATE INDEX CONCURRENTLY statements skipped on a resumed run: the index was already built. */
  skipped: string[];
}

export interface StepContext {
  session: MigrationSession;
  timeouts: Timeouts;
  restorePoint?: string;
  /** The migration was interrupted or failed part way (outside a transaction) before. */
  resuming: boolean;
  progress: (message: string) => void;
}

function sideOf(migration: Migration, direction: 'up' | 'down'): MigrationScript {
  const script = direction === 'up' ? migration.up : migration.down;
  if (!script) throw new Error(`${migration.tag} has no ${direction} script`);
  return script;
}

/**
 * After a failed try: when it was a lock timeout and tries are left, say so (which try, the wait,
 * who blocks) and wait out the jittered backoff. True: try again. The same for all three runners.
 */
async function waitToRetry(error: unknown, attempt: number, timeouts: Timeouts, blockers: Blocker[], what: string, ctx: StepContext): Promise<boolean> {
  if (!isLockTimeout(error) || attempt >= timeouts.retries) return false;
  const wait = backoff(attempt, timeouts);
  ctx.progress(lockRetryLine(what, attempt, timeouts, wait, blockers));
  await sleep(wait);
  return true;
}

/** Record the outcome in our ledger and drizzle-orm's table (inside the caller's transaction). */
async function recordSuccess(work: ReservedSql, migration: Migration, direction: 'up' | 'down', started: Date, restorePoint?: string): Promise<void> {
  const script = sideOf(migration, direction);
  await insertLedgerRow(work, {
    name: migration.tag,
    sha256: direction === 'up' ? script.sha256 : migration.up.sha256,
    direction,
    status: direction === 'up' ? 'applied' : 'rolled_back',
    startedAt: started,
    finishedAt: new Date(),
    restorePoint: restorePoint ?? null,
    note: direction === 'down' ? `down script sha256 ${script.sha256}` : null,
    script: direction === 'up' ? script.text : null,
  });
  if (direction === 'up') await recordInDrizzle(work, migration.up.sha256, migration.when);
  else await forgetInDrizzle(work, migration.when);
}

/**
 * Run one migration (or its down script) in its own transaction: timeouts set with SET LOCAL,
 * the ledger row written in the same transaction, so it is applied and recorded together or
 * not at all (also when the process is killed). A lock timeout is retried with backoff.
 */
export async function runInTransaction(migration: Migration, direction: 'up' | 'down', ctx: StepContext): Promise<StepResult> {
  const { work, lock, workPid } = ctx.session;
  const script = sideOf(migration, direction);
  const timeouts = timeoutsFor(script, ctx.timeouts);
  for (let attempt = 0; ; attempt++) {
    const started = new Date();
    let current: Statement | undefined;
    const outcome = await watchBlockers(lock, workPid, async () => {
      await work.unsafe('BEGIN');
      await work.unsafe(timeoutSql(timeouts, 'LOCAL')).simple();
      for (const statement of script.statements) {
        current = statement;
        await runStatement(work, statement);
      }
      current = undefined;
      await recordSuccess(work, migration, direction, started, ctx.restorePoint);
      await work.unsafe('COMMIT');
    });
    if (!outcome.error) {
      return { name: migration.tag, direction, transaction: 'own', durationMs: Date.now() - started.getTime(), retries: attempt, invalidIndexesDropped: [], skipped: [] };
    }
    await work.unsafe('ROLLBACK').catch(() => undefined);
    if (await waitToRetry(outcome.error, attempt, timeouts, outcome.blockers, migration.tag, ctx)) continue;
    const failure = migrationFailure(migration, script, current, outcome.error, {
      blockers: outcome.blockers,
      attempts: attempt + 1,
      lockTimeoutMs: timeouts.lockTimeoutMs,
      direction,
      transaction: 'own',
    });
    await insertLedgerRow(work, {
      name: migration.tag,
      sha256: migration.up.sha256,
      direction,
      status: 'failed',
      startedAt: started,
      finishedAt: new Date(),
      error: failure.toJSON(),
    }).catch(() => undefined);
    throw failure;
  }
}

/**
 * Run a migration whose statements cannot run in a transaction (CREATE INDEX CONCURRENTLY,
 * VACUUM, batched DO blocks), one by one. A `running` ledger row is committed first, so a run
 * that dies part way is known to be interrupted; the next run resumes it, first dropping any
 * INVALID index a failed concurrent build left and skipping builds that already finished.
 */
export async function runOutsideTransaction(migration: Migration, direction: 'up' | 'down', ctx: StepContext): Promise<StepResult> {
  const { work, lock, workPid } = ctx.session;
  const script = sideOf(migration, direction);
  const timeouts = timeoutsFor(script, ctx.timeouts);
  const started = new Date();
  const dropped: string[] = [];
  const skipped: string[] = [];
  let retries = 0;
  const id = await insertLedgerRow(work, { name: migration.tag, sha256: migration.up.sha256, direction, status: 'running', startedAt: started, restorePoint: ctx.restorePoint ?? null, script: direction === 'up' ? script.text : null });
  await work.unsafe(timeoutSql(timeouts, 'SESSION')).simple();
  try {
    for (const [i, statement] of script.statements.entries()) {
      const index = script.classifications[i]?.concurrentIndex;
      if (index) {
        const leftover = await dropInvalidIndex(work, index);
        if (leftover) {
          dropped.push(leftover);
          ctx.progress(`${migration.tag}: dropped INVALID index ${leftover} left by an earlier failed build`);
        }
        if (ctx.resuming && (await validIndexExists(work, index))) {
          skipped.push(index.name);
          ctx.progress(`${migration.tag}: index ${index.name} was already built by the interrupted run; skipping it`);
          continue;
        }
      }
      for (let attempt = 0; ; attempt++) {
        const outcome = await watchBlockers(lock, workPid, () => runStatement(work, statement));
        if (!outcome.error) break;
        if (index) {
          const invalid = await dropInvalidIndex(work, index).catch(() => undefined);
          if (invalid) dropped.push(invalid);
        }
        if (await waitToRetry(outcome.error, attempt, timeouts, outcome.blockers, `${migration.tag} statement ${statement.index + 1}`, ctx)) {
          retries++;
          continue;
        }
        const failure = migrationFailure(migration, script, statement, outcome.error, {
          blockers: outcome.blockers,
          attempts: attempt + 1,
          lockTimeoutMs: timeouts.lockTimeoutMs,
          cleanedUp: dropped,
          direction,
          transaction: 'none',
        });
        await finishLedgerRow(work, id, 'failed', started, failure.toJSON()).catch(() => undefined);
        throw failure;
      }
    }
  } finally {
    await work.unsafe('RESET lock_timeout; RESET statement_timeout').simple().catch(() => undefined);
  }
  await work.unsafe('BEGIN');
  try {
    await finishLedgerRow(work, id, direction === 'up' ? 'applied' : 'rolled_back', started);
    if (direction === 'up') await recordInDrizzle(work, migration.up.sha256, migration.when);
    else await forgetInDrizzle(work, migration.when);
    await work.unsafe('COMMIT');
  } catch (error) {
    await work.unsafe('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return { name: migration.tag, direction, transaction: 'none', durationMs: Date.now() - started.getTime(), retries, invalidIndexesDropped: dropped, skipped };
}

/** All of `migrations` in one transaction: all or nothing (`--single-transaction`). */
export async function runAllInOneTransaction(migrations: Migration[], direction: 'up' | 'down', ctx: StepContext): Promise<StepResult[]> {
  const { work, lock, workPid } = ctx.session;
  for (let attempt = 0; ; attempt++) {
    const results: StepResult[] = [];
    let current: { migration: Migration; statement?: Statement } | undefined;
    const outcome = await watchBlockers(lock, workPid, async () => {
      await work.unsafe('BEGIN');
      for (const migration of migrations) {
        const script = sideOf(migration, direction);
        const started = new Date();
        await work.unsafe(timeoutSql(timeoutsFor(script, ctx.timeouts), 'LOCAL')).simple();
        for (const statement of script.statements) {
          current = { migration, statement };
          await runStatement(work, statement);
        }
        current = { migration };
        await recordSuccess(work, migration, direction, started, ctx.restorePoint);
        results.push({ name: migration.tag, direction, transaction: 'single', durationMs: Date.now() - started.getTime(), retries: attempt, invalidIndexesDropped: [], skipped: [] });
      }
      current = undefined;
      await work.unsafe('COMMIT');
    });
    if (!outcome.error) return results;
    await work.unsafe('ROLLBACK').catch(() => undefined);
    const failed = current?.migration ?? migrations[migrations.length - 1];
    if (!failed) throw translateDbError(outcome.error);
    // The failed migration's lock_timeout (its directive may differ); the run's retries.
    const timeouts = timeoutsFor(sideOf(failed, direction), ctx.timeouts);
    if (await waitToRetry(outcome.error, attempt, timeouts, outcome.blockers, `${failed.tag} (single transaction)`, ctx)) continue;
    const failure = migrationFailure(failed, sideOf(failed, direction), current?.statement, outcome.error, {
      blockers: outcome.blockers,
      attempts: attempt + 1,
      lockTimeoutMs: timeouts.lockTimeoutMs,
      direction,
      transaction: 'single',
    });
    await insertLedgerRow(work, { name: failed.tag, sha256: failed.up.sha256, direction, status: 'failed', startedAt: new Date(), finishedAt: new Date(), error: failure.toJSON() }).catch(() => undefined);
    throw failure;
  }
}
