import { type Sql } from 'postgres';
import { connect } from '../../db/connect.ts';

/** One row of SHOW POOLS (the columns the metrics use). */
export interface PoolRow {
  database: string;
  user: string;
  cl_active: number;
  cl_waiting: number;
  sv_active: number;
  sv_idle: number;
  sv_used: number;
  sv_tested: number;
  sv_login: number;
  maxwait: number;
  maxwait_us: number;
  pool_mode: string;
}

/** One row of SHOW STATS. */
export interface StatsRow {
  database: string;
  total_xact_count: number;
  total_query_count: number;
  total_wait_time: number;
  avg_xact_count: number;
  avg_query_count: number;
  avg_xact_time: number;
  avg_wait_time: number;
  [key: string]: unknown;
}

/**
 * A client for PgBouncer's admin console (the virtual database "pgbouncer"). It speaks only the
 * simple query protocol and knows no catalog, so types are not fetched and nothing is prepared.
 */
export function poolerAdmin(url: string): Sql {
  return connect(url, { max: 1, fetch_types: false, prepare: false, onnotice: () => {}, connect_timeout: 5, idle_timeout: 30 });
}

const numbers = <T>(rows: Record<string, unknown>[]): T[] =>
  rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v])) as T);

export async function showPools(admin: Sql): Promise<PoolRow[]> {
  return numbers<PoolRow>(await admin.unsafe('SHOW POOLS').simple());
}

export async function showStats(admin: Sql): Promise<StatsRow[]> {
  return numbers<StatsRow>(await admin.unsafe('SHOW STATS').simple());
}

export async function showVersion(admin: Sql): Promise<string> {
  const [row] = await admin.unsafe<{ version: string }[]>('SHOW VERSION').simple();
  return row?.version ?? '';
}

/** SHOW CONFIG as key -> value. */
export async function showConfig(admin: Sql): Promise<Map<string, string>> {
  const rows = await admin.unsafe<{ key: string; value: string }[]>('SHOW CONFIG').simple();
  return new Map(rows.map((row) => [row.key, row.value]));
}

export async function reload(admin: Sql): Promise<void> {
  await admin.unsafe('RELOAD').simple();
}
