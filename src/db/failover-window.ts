import { backoffDelay } from '../core/backoff.ts';
import { formatDuration } from '../core/units.ts';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from './translate-error.ts';

/**
 * The default failover window: 50, 100, 200, 400, 800 and 1000 ms of pauses (2.55 s), what a fast
 * restart of PostgreSQL or PgBouncer takes. Behind PgBouncer, after a failed login it turns clients
 * away until it has tried again (server_login_retry: 1 s in the generated configuration), so the
 * window must span more than that second.
 */
export const DEFAULT_FAILOVER_WINDOW_MS = 2550;

/**
 * How long a statement that never reached a server is sent again: from its first failure, with
 * pauses of 50 ms doubling up to 1 s, the last one cut short so that the last attempt starts when
 * the window ends. One per statement (or transaction).
 *
 * @example
 * const window = new FailoverWindow(30_000);
 * for (;;) { try { return await run() } catch (e) { const pause = window.next(); if (pause === undefined) throw window.expired(e); await sleep(pause) } }
 */
export class FailoverWindow {
  private started: number | undefined;
  /** Attempts so far that failed before reaching a server. */
  failures = 0;

  constructor(
    readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The pause before the next attempt, or undefined when the window is over. */
  next(): number | undefined {
    const now = this.now();
    this.started ??= now;
    const remaining = this.windowMs - (now - this.started);
    if (remaining <= 0) return undefined;
    return Math.min(backoffDelay(this.failures++, { initialMs: 50, maxMs: 1000 }), Math.ceil(remaining));
  }

  /** Milliseconds since the first failure. */
  elapsedMs(): number {
    return this.started === undefined ? 0 : this.now() - this.started;
  }

  /**
   * The error after the window: CONNECTION_FAILED (exit 17) with what the last attempt met, that
   * it was sent again for the whole window and never ran, and what to do. `error` is what the
   * last attempt threw (already PgBouncer-named, see `poolerConnectionError`).
   */
  expired(error: unknown): JeexDbError {
    const last = translateDbError(error);
    const attempts = this.failures + 1;
    const window = this.windowMs === 0 ? 'it was not sent again (JEEX_DB_FAILOVER_WINDOW=0)' : `it was sent ${attempts} times over the failover window of ${formatDuration(this.windowMs)} (JEEX_DB_FAILOVER_WINDOW)`;
    const next = 'To ride out longer restarts and failovers (a standby being promoted takes seconds; Patroni or a managed service up to 30 s or more), raise JEEX_DB_FAILOVER_WINDOW (the option failoverWindow), e.g. 30s.';
    return new JeexDbError(last.code, `${last.message.replace(/\.?\s*$/, '')}; ${window} and never reached a server that could run it: nothing of it ran, so it is safe to send again.`, {
      ...(last.sqlState ? { sqlState: last.sqlState } : {}),
      hint: `${last.hint ? `${last.hint} ` : ''}${next}`,
      cause: last.cause ?? error,
      context: { ...last.context, failoverWindowMs: this.windowMs, attempts, elapsedMs: Math.round(this.elapsedMs()) },
    });
  }
}
