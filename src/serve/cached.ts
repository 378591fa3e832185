/** A shared, rate-limited computation (`cached`): a call reuses a recent result, `fresh()` computes a new one. */
export interface Cached<T> {
  /** The last result when it is younger than the window, else a new one (joining one in flight). */
  (): Promise<T>;
  /** A new result, joining one already in flight (it started after the last result); what a loop that must see now calls. */
  fresh(): Promise<T>;
}

/**
 * A value computed at most once per `ttlMs`, with one computation in flight at a time: any
 * number of callers inside the window (or while it runs) share one result. Probes hitting
 * `/readyz` many times a second then cost the database one query per window, and the alert
 * loop (`fresh()`) and `/health` share one evaluation instead of querying twice.
 *
 * @example
 * const ready = cached(1500, () => probe());
 * await ready(); // runs probe()
 * await ready(); // the same result, until 1.5 s have passed
 * await ready.fresh(); // runs probe() again (or joins the run in flight)
 */
export function cached<T>(ttlMs: number, compute: () => Promise<T>, now: () => number = Date.now): Cached<T> {
  let value: { at: number; result: T } | undefined;
  let running: Promise<T> | undefined;
  const run = (): Promise<T> => {
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
  const get = (() => {
    if (value && now() - value.at < ttlMs) return Promise.resolve(value.result);
    return run();
  }) as Cached<T>;
  get.fresh = run;
  return get;
}
