/**
 * A value computed at most once per `ttlMs`, with one computation in flight at a time: any
 * number of callers inside the window (or while it runs) share one result. Probes hitting
 * `/readyz` many times a second then cost the database one query per window.
 *
 * @example
 * const ready = cached(1500, () => probe());
 * await ready(); // runs probe()
 * await ready(); // the same result, until 1.5 s have passed
 */
export function cached<T>(ttlMs: number, compute: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let value: { at: number; result: T } | undefined;
  let running: Promise<T> | undefined;
  return () => {
    if (value && now() - value.at < ttlMs) return Promise.resolve(value.result);
    running ??= compute()
      .then((result) => {
        value = { at: now(), result };
        return result;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}
