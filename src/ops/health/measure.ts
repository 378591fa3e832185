import type { Sql } from 'postgres';
import { describeError, HealthTimeout, sqlStateOf } from './bounded.ts';
import { judge, shownLimits, type Limits } from './judge.ts';
import type { HealthScope, ServerFacts } from './queries.ts';
import type { HealthThresholds } from './thresholds.ts';
import type { HealthCheck, HealthStatus } from './types.ts';

/** One measurement for the document: its `component:measurement` key and the entry. */
export interface Entry {
  key: string;
  check: HealthCheck;
}

/** What every check gets. */
export interface BaseContext {
  thresholds: HealthThresholds;
  timeoutMs: number;
  now: () => Date;
  /** A remark for the document's `notes` (e.g. why a passing check could not judge). */
  note: (text: string) => void;
}

/** What the checks that query PostgreSQL get, once it answered. */
export interface CheckContext extends BaseContext {
  sql: Sql;
  scope: HealthScope;
  /** What the reachability query learned (the database name, recovery, max_connections, ...). */
  facts: ServerFacts;
}

export interface Measurement {
  value: HealthCheck['observedValue'];
  unit?: string;
  /** Judged from `value` (or `exact`) against `limits` when not given. */
  status?: HealthStatus;
  /** The unrounded value to judge, when `value` is rounded for the reader. */
  exact?: number;
  limits?: Limits;
  lowerIsWorse?: boolean;
  /** Why it is not pass, and what to do; dropped when the status is pass. */
  output?: string | ((status: HealthStatus) => string);
  componentType: string;
  componentId?: string;
}

/** Build a health entry: status from the limits, the limits shown, output only when not pass. */
export function measure(now: () => Date, m: Measurement): HealthCheck {
  const limits = m.limits ?? {};
  const judged = m.exact ?? m.value;
  const status = m.status ?? (typeof judged === 'number' ? judge(judged, limits, m.lowerIsWorse) : 'pass');
  const check: HealthCheck = { componentType: m.componentType, observedValue: m.value, status, time: now().toISOString() };
  if (m.componentId !== undefined) check.componentId = m.componentId;
  if (m.unit !== undefined) check.observedUnit = m.unit;
  const shown = shownLimits(limits);
  if (shown) check.thresholds = shown;
  if (status !== 'pass' && m.output !== undefined) check.output = typeof m.output === 'function' ? m.output(status) : m.output;
  return check;
}

/** Round to `digits` decimals, for values a person reads. */
export const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

export interface CheckSpec<C extends BaseContext = CheckContext> {
  /** Words for the output when it cannot be measured, e.g. "the longest transaction". */
  what: string;
  /** The key the failure entry goes under. */
  key: string;
  componentType: string;
  run: (ctx: C) => Promise<Entry[]>;
}

/**
 * Run one check; a timeout or an error becomes a `warn` entry under its key whose output says
 * what happened and what to do, never a thrown exception.
 */
export async function runCheck<C extends BaseContext>(spec: CheckSpec<C>, ctx: C, componentId?: string): Promise<Entry[]> {
  try {
    return await spec.run(ctx);
  } catch (error) {
    const advice =
      error instanceof HealthTimeout || sqlStateOf(error) === '57014'
        ? `The server is slow or something holds a lock this check needs; look at pg_stat_activity (wait_event, pg_blocking_pids), or raise timeoutMs (${ctx.timeoutMs} ms).`
        : sqlStateOf(error) === '42501'
          ? 'Run the health check as a role that is a member of pg_monitor (GRANT pg_monitor TO <role>).'
          : 'Run the query by hand (psql) to see why.';
    const check = measure(ctx.now, {
      value: null,
      status: 'warn',
      componentType: spec.componentType,
      output: `could not measure ${spec.what}: ${describeError(error).text} ${advice}`,
      ...(componentId !== undefined ? { componentId } : {}),
    });
    return [{ key: spec.key, check }];
  }
}
