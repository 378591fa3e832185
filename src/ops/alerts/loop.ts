import type { Logger } from 'pino';
import { maskSecrets } from '../../db/url.ts';
import type { HealthDocument } from '../health/types.ts';
import type { AlertEngine, AlertTransition } from './engine.ts';
import { withTimeout } from '../../core/timeout.ts';

export interface AlertLoopOptions {
  engine: AlertEngine;
  /** Produces the health document, e.g. `() => checkHealth(sql)`. A throw counts as "unreachable". */
  check: () => Promise<HealthDocument>;
  /** Milliseconds between the end of one evaluation and the start of the next. */
  intervalMs: number;
  /** Milliseconds a check may take before it counts as failed. Default: the larger of 10 s and `intervalMs`. */
  checkTimeoutMs?: number;
  /** Where a failing check is reported (one warn line per failure). */
  logger?: Logger;
  /** Called with each evaluation's transitions (e.g. to update an endpoint). */
  onTransitions?: (transitions: AlertTransition[]) => void;
}

export interface AlertLoop {
  /** Stop the loop: waits for a running evaluation, then flushes the engine (`engine.flush()`). */
  stop(): Promise<void>;
}

/**
 * Evaluate the alert rules on a fresh health document every `intervalMs`, starting now. Runs
 * never overlap: the next waits for the previous one to finish. A check that throws (or takes
 * longer than `checkTimeoutMs`) is evaluated as `postgresql:reachable` failing, so
 * "database-unreachable" fires. The engine's delivery entries (`alerts:delivery`) are added to
 * every document, so `alert-delivery-failing` fires when a receiver keeps failing.
 *
 * @example
 * const loop = startAlertLoop({ engine, check: () => checkHealth(sql), intervalMs: 15_000 });
 * process.on('SIGTERM', () => void loop.stop());
 */
export function startAlertLoop(options: AlertLoopOptions): AlertLoop {
  const { engine, check, intervalMs } = options;
  const checkTimeoutMs = options.checkTimeoutMs ?? Math.max(10_000, intervalMs);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const runOnce = async () => {
    const doc = await withTimeout(Promise.resolve().then(check), checkTimeoutMs, () => new Error(`no answer within ${checkTimeoutMs} ms`)).catch((error: unknown) => {
      const reason = maskSecrets(error instanceof Error ? error.message : String(error));
      options.logger?.warn({ check: 'postgresql:reachable', error: reason }, `health check failed: ${reason}`);
      return unreachable(reason);
    });
    if (stopped) return;
    // The delivery's own health (`alerts:delivery`) is judged with the rest: `alert-delivery-failing`.
    const transitions = engine.evaluate({ ...doc, checks: { ...doc.checks, ...engine.deliveryChecks() } });
    if (transitions.length > 0) options.onTransitions?.(transitions);
  };

  const tick = () => {
    timer = undefined;
    running = runOnce()
      .catch((error: unknown) => {
        options.logger?.error({ error: maskSecrets(String(error)) }, 'alert evaluation failed');
      })
      .finally(() => {
        running = undefined;
        if (!stopped) {
          timer = setTimeout(tick, intervalMs);
          timer.unref();
        }
      });
  };
  tick();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
      await engine.flush();
    },
  };
}

/** The document evaluated when the check itself failed: PostgreSQL counts as unreachable. */
function unreachable(reason: string): HealthDocument {
  return {
    status: 'fail',
    checks: {
      'postgresql:reachable': [{ componentType: 'postgresql', observedValue: false, status: 'fail', time: new Date().toISOString(), output: `the health check failed: ${reason}` }],
    },
    output: reason,
  };
}
