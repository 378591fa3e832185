/**
 * How long to wait before a retry: `initialMs`, multiplied by `factor` at each further retry, at
 * most `maxMs`, spread by `jitter` so that clients that failed together do not retry together.
 */
export interface Backoff {
  /** The wait before the first retry. */
  initialMs: number;
  /** Growth per retry. Default 2 (doubling). */
  factor?: number;
  /** The longest wait (after jitter). Default: no limit. */
  maxMs?: number;
  /** Spread as a fraction: 0.25 waits between 75 % and 125 % of the computed wait. Default 0. */
  jitter?: number;
  /** Random numbers in [0, 1), for jitter. Default `Math.random`. */
  random?: () => number;
}

/**
 * The wait before retry number `retry` (0 for the first retry): `initialMs * factor ** retry`,
 * spread by `jitter`, at most `maxMs`, in whole milliseconds.
 *
 * @example
 * backoffDelay(0, { initialMs: 1000, maxMs: 30_000 }) // 1000
 * backoffDelay(3, { initialMs: 1000, maxMs: 30_000 }) // 8000
 * backoffDelay(9, { initialMs: 1000, maxMs: 30_000 }) // 30000
 * backoffDelay(1, { initialMs: 500, jitter: 0.25 }) // 750 to 1250
 */
export function backoffDelay(retry: number, backoff: Backoff): number {
  const { initialMs, factor = 2, maxMs = Number.POSITIVE_INFINITY, jitter = 0, random = Math.random } = backoff;
  const base = initialMs * factor ** Math.max(0, retry);
  const spread = jitter > 0 ? base * (1 - jitter + random() * 2 * jitter) : base;
  return Math.round(Math.min(maxMs, spread));
}

/**
 * The first `count` waits of a backoff, for a loop that retries a fixed number of times.
 *
 * @example
 * backoffSchedule(6, { initialMs: 50, maxMs: 1000 }) // [50, 100, 200, 400, 800, 1000]
 */
export function backoffSchedule(count: number, backoff: Backoff): number[] {
  return Array.from({ length: count }, (_, retry) => backoffDelay(retry, backoff));
}
