/**
 * Settle with `promise`, or reject with `onTimeout()` after `ms`. The timer does not keep the
 * process alive and is cleared when `promise` wins; a `promise` that loses is left to settle
 * unobserved (its rejection is handled, so it never becomes an unhandled rejection).
 *
 * @example
 * await withTimeout(sql`SELECT 1`, 2000, () => new Error('no answer within 2 s'));
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
