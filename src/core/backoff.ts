/**
 * How long to wait before a retry: `initialMs`, multiplied by `factor` at each further retry, at
 * most `maxMs`, then spread at random so that clients that failed together do not retry together.
 */
export interface Backoff {
  /** The wait before the first retry. */
  initialMs: number;
  /** Growth per retry. Default 2 (doubling). */
  factor?: number;
  /** The longest wait, before the spread. Default: no limit. */
  maxMs?: number;
  /**
   * The wait is multiplied by a random factor from `low` to `high`: `[0.75, 1.25]` is ±25 %,
   * `[0.5, 1]` keeps at least half of it ("equal jitter"), `[0, 1]` is anywhere up to it ("full
   * jitter", the widest spread). Default `[1, 1]`: no spread.
   */
  spread?: readonly [low: number, high: number];
  /** Random numbers in [0, 1), for the spread. Default `Math.random`. */
  random?: () => number;
}

/**
 * The wait before retry number `retry` (0 for the first retry), in whole milliseconds:
 * `min(initialMs * factor ** retry, maxMs)`, times a random factor within `spread`.
 *
 * @example
 * backoffDelay(0, { initialMs: 1000, maxMs: 30_000 }) // 1000
 * backoffDelay(3, { initialMs: 1000, maxMs: 30_000 }) // 8000
 * backoffDelay(9, { initialMs: 1000, maxMs: 30_000 }) // 30000
 * backoffDelay(1, { initialMs: 500, spread: [0.75, 1.25] }) // 750 to 1250
 */
export function backoffDelay(retry: number, backoff: Backoff): number {
  const { initialMs, factor = 2, maxMs = Number.POSITIVE_INFINITY, spread: [low, high] = [1, 1], random = Math.random } = backoff;
  const capped = Math.min(maxMs, initialMs * factor ** Math.max(0, retry));
  return Math.round(capped * (low === high ? low : low + random() * (high - low)));
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
