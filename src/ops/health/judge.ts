import { EXIT } from '../../core/codes.ts';
import type { HealthStatus } from './types.ts';

export interface Limits {
  warn?: number | undefined;
  fail?: number | undefined;
}

/**
 * The status of a value against its limits. By default higher is worse and a limit is reached
 * when the value equals it (`warn: 80` warns at 80); with `lowerIsWorse` a value below the limit
 * is worse (a cache hit ratio of 0.94 against `warn: 0.95`). A missing limit never triggers.
 *
 * @example
 * judge(85, { warn: 80, fail: 95 });              // 'warn'
 * judge(0.7, { warn: 0.95, fail: 0.8 }, true);    // 'fail'
 */
export function judge(value: number, limits: Limits, lowerIsWorse = false): HealthStatus {
  const reached = (limit: number | undefined) => limit !== undefined && (lowerIsWorse ? value < limit : value >= limit);
  if (reached(limits.fail)) return 'fail';
  if (reached(limits.warn)) return 'warn';
  return 'pass';
}

/** Only the limits that are set, as the health document shows them. */
export function shownLimits(limits: Limits): { warn?: number; fail?: number } | undefined {
  const shown: { warn?: number; fail?: number } = {};
  if (limits.warn !== undefined) shown.warn = limits.warn;
  if (limits.fail !== undefined) shown.fail = limits.fail;
  return shown.warn === undefined && shown.fail === undefined ? undefined : shown;
}

/**
 * The cache hit ratio and whether it may be judged: with fewer than `minBlocks` block accesses
 * since the statistics were reset, a cold cache says nothing about the working set.
 */
export function cacheHit(hit: number, read: number, minBlocks = 0): { ratio: number | null; enough: boolean } {
  const total = hit + read;
  return { ratio: total > 0 ? hit / total : null, enough: total > 0 && total >= minBlocks };
}

/**
 * Process exit code for a health status, from the code registry: 0 pass, 1 warn, 3 fail (not 2,
 * which is a usage error everywhere).
 *
 * @example
 * process.exitCode = healthExitCode(doc.status);
 */
export function healthExitCode(status: HealthStatus): typeof EXIT.OK | typeof EXIT.HEALTH_WARN | typeof EXIT.HEALTH_FAIL {
  return status === 'pass' ? EXIT.OK : status === 'warn' ? EXIT.HEALTH_WARN : EXIT.HEALTH_FAIL;
}
