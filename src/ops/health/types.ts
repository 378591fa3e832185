/**
 * The health document (draft-inadarei-api-health-check, media type `application/health+json`):
 * one status for the whole, and one entry per measurement under `checks`, keyed
 * `component:measurement` (e.g. `postgresql:connections`, `pool:waiting`).
 *
 * @example
 * const doc = await checkHealth(sql);
 * doc.status;                                        // 'pass' | 'warn' | 'fail'
 * doc.checks['postgresql:connections']?.[0]?.observedValue; // 12
 */
export type HealthStatus = 'pass' | 'warn' | 'fail';

export const HEALTH_CONTENT_TYPE = 'application/health+json';

export interface HealthCheck {
  /** What is measured, e.g. 'postgresql', 'pgbouncer', 'pool', 'migrations', 'backup'. */
  componentType?: string;
  /** The database, pool or instance the value belongs to. */
  componentId?: string;
  observedValue: number | string | boolean | null;
  /** UCUM where there is one: 'ms', 's', 'By', '%', '{connection}', '{transaction}'. */
  observedUnit?: string;
  status: HealthStatus;
  /** ISO 8601 time the value was observed. */
  time: string;
  /** Why the status is not pass, and what to do; absent when it passes. */
  output?: string;
  /** The thresholds that applied, so a reader sees why warn or fail. */
  thresholds?: { warn?: number; fail?: number };
}

export interface HealthDocument {
  status: HealthStatus;
  /** The package version. */
  version?: string;
  serviceId?: string;
  description?: string;
  /** Keyed `component:measurement`; each value is a list (one entry per component instance). */
  checks: Record<string, HealthCheck[]>;
  /** Why the whole is not pass: the failing and warning checks' outputs, joined. */
  output?: string;
  notes?: string[];
}

/** The worst of the statuses (fail > warn > pass). */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'pass';
  for (const status of statuses) {
    if (status === 'fail') return 'fail';
    if (status === 'warn') worst = 'warn';
  }
  return worst;
}
