import { setTimeout as wait } from 'node:timers/promises';

export interface SleepOptions {
  /** Stop waiting when it aborts: the promise then resolves at once (it never rejects). */
  signal?: AbortSignal;
  /** false: the timer does not keep the process alive (a supervisor's pause). Default true. */
  ref?: boolean;
}

/**
 * Wait `ms` milliseconds (a negative `ms` is 0). The one sleep of the package: a loop that polls
 * or backs off awaits this, and passes `signal` when something may want to end the wait early.
 *
 * @example
 * await sleep(200);
 * await sleep(backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 }), { signal: stop.signal });
 */
export async function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal, ref = true } = options;
  if (signal?.aborted) return;
  try {
    await wait(Math.max(0, ms), undefined, { ref, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}
