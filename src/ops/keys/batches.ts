import { sleep } from '../../core/sleep.ts';
import { backoffDelay } from '../../core/backoff.ts';
/** Where the first pass starts: below every UUID. */
export const FIRST_ID = '00000000-0000-0000-0000-000000000000';

export interface PassOptions {
  /** Rows per batch (one short transaction each). */
  batchSize: number;
  /** Passes at most; rows locked by another transaction are skipped and retried in the next. */
  maxPasses: number;
  signal?: AbortSignal;
}

export interface PassOutcome {
  /** Rows changed in all passes. */
  done: number;
  batches: number;
  passes: number;
  /** Rows still to do after the last pass (locked throughout, or written meanwhile with an old key). */
  remaining: number;
}

/**
 * Run `batch(after)` over a table in id order until it reports no more rows; then count what is
 * left and go round again (rows skipped because another transaction held them), a little later
 * each time, until nothing is left, `maxPasses` is reached or two passes in a row change nothing. `batch` returns the last id it
 * looked at (`undefined` when it found none) and how many rows it changed. Stopping (`signal`)
 * between batches leaves a consistent table: every batch is its own transaction, and a rerun
 * picks up what is left.
 */
export async function inPasses(
  options: PassOptions,
  batch: (after: string) => Promise<{ lastId: string | undefined; changed: number }>,
  remaining: () => Promise<number>,
): Promise<PassOutcome> {
  let done = 0;
  let batches = 0;
  let passes = 0;
  let idle = 0;
  let left = await remaining();
  // Two passes in a row that change nothing: what is left is held by a long transaction or
  // cannot be done (a conflict): report it rather than spin.
  while (left > 0 && passes < options.maxPasses && idle < 2 && !options.signal?.aborted) {
    if (passes > 0) await sleep(backoffDelay(passes - 1, { initialMs: 100, maxMs: 2000 }));
    passes++;
    const before = done;
    let after = FIRST_ID;
    for (;;) {
      if (options.signal?.aborted) break;
      const { lastId, changed } = await batch(after);
      if (lastId === undefined) break;
      batches++;
      done += changed;
      after = lastId;
    }
    idle = done === before ? idle + 1 : 0;
    left = await remaining();
  }
  return { done, batches, passes, remaining: left };
}
