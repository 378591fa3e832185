/**
 * What waiting for a table lock costs the application, in words: the progress line of a retry
 * and the hint of a lock timeout that used up its tries.
 *
 * A migration that waits for ACCESS EXCLUSIVE keeps its place in the table's lock queue, and
 * every later query on that table (INSERTs included) queues behind it until it gets the lock or
 * gives up. So lock_timeout is not how patient the migration is but how long the application's
 * writers may stall: it stays short (1 s by default) and patience comes from more tries.
 */

/** What is shown of a blocking session (execute.ts's `Blocker` has it; this file imports nothing). */
export interface BlockingSession {
  pid: number;
  state: string | null;
  applicationName: string | null;
  transactionSeconds: number | null;
}

/** The retry settings these messages speak of (execute.ts's `Timeouts`). */
export interface LockTries {
  lockTimeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** A lock_timeout up to this keeps writers moving; above it the hint says what it cost them. */
export const WRITER_SAFE_LOCK_TIMEOUT_MS = 2_000;

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))}s`;

/** `pid 123 (idle in transaction, monthly-report, in a transaction for 12s)` */
export function blockerLabel(b: BlockingSession): string {
  return `pid ${b.pid} (${b.state ?? '?'}, ${b.applicationName || 'no application_name'}, in a transaction for ${b.transactionSeconds ?? '?'}s)`;
}

/**
 * The progress line of a retry after a lock timeout, e.g.
 * `0007_add_source: lock timeout after 1s (try 2 of 16); blocked by pid 123 (...); next try in 1.7s`.
 */
export function lockRetryLine(what: string, attempt: number, timeouts: LockTries, waitMs: number, blockers: BlockingSession[]): string {
  const by = blockers.length > 0 ? `blocked by ${blockers.map(blockerLabel).join(', ')}` : 'the blocker was gone when looked for';
  return `${what}: lock timeout after ${seconds(timeouts.lockTimeoutMs)} (try ${attempt + 1} of ${timeouts.retries + 1}); ${by}; next try in ${(waitMs / 1000).toFixed(1)}s`;
}

/**
 * The hint of a migration whose tries all timed out on a lock. It never advises a long wait on
 * a table that is written to: it names the blockers to end or wait for, says what the writers
 * went through, and offers more tries or a quieter moment; a longer lock_timeout only for a
 * table nobody writes, with its cost.
 */
export function lockTimeoutHint(blockers: BlockingSession[], attempts: number, lockTimeoutMs: number): string {
  const pids = blockers.map((b) => b.pid);
  const who =
    blockers.length > 0
      ? `The lock is held by ${blockers.map(blockerLabel).join(', ')}: let ${pids.length > 1 ? 'them' : 'it'} finish, or end ${pids.length > 1 ? 'them' : 'it'} (${pids.map((pid) => `SELECT pg_terminate_backend(${pid});`).join(' ')}), then run again.`
      : 'The blocking session was gone when it was looked for (it held the lock only briefly): run again; if it keeps happening, look for long transactions in pg_stat_activity.';
  const tries = `${attempts} ${attempts === 1 ? 'try' : 'tries'}`;
  const writers =
    lockTimeoutMs <= WRITER_SAFE_LOCK_TIMEOUT_MS
      ? `Writers were protected: each of the ${tries} gave up its lock request after ${seconds(lockTimeoutMs)}, so no query queued behind the migration waited longer than that.`
      : `Each of the ${tries} waited ${seconds(lockTimeoutMs)} for the lock, and every query on the table queued behind it that long: keep --ddl-lock-timeout at about 1s for a table that is written to.`;
  const retries = Math.min(100, Math.max(30, 2 * (attempts - 1)));
  return [
    who,
    writers,
    `Or run again at a quieter moment, or with more tries (--retries ${retries}).`,
    'Raise --ddl-lock-timeout (or "-- jeex:lock-timeout" in the file) only for a table nobody writes to: while the migration waits for its lock, every read and write of the table waits behind it for as long.',
  ].join(' ');
}

/**
 * The longest a run keeps trying one lock with these timeouts: every try waiting its full
 * lock_timeout and every backoff drawing its cap. Full jitter spreads the waits from 0 to the cap.
 *
 * @example
 * longestLockWaitMs(DEFAULT_TIMEOUTS) // 131500: 16 tries of 1 s and 15 waits of 0.5 s doubling to 10 s
 */
export function longestLockWaitMs(t: LockTries): number {
  let total = (t.retries + 1) * t.lockTimeoutMs;
  for (let retry = 0; retry < t.retries; retry++) total += Math.min(t.maxBackoffMs, t.backoffMs * 2 ** retry);
  return total;
}
