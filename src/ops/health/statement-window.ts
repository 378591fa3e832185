import type { Sql, TransactionSql } from 'postgres';
import type { HealthScope } from './queries.ts';

/** One statement's cumulative counters in pg_stat_statements. */
interface Counters {
  calls: number;
  totalMs: number;
}

interface Snapshot {
  /** ms, the checks' clock. */
  at: number;
  rows: Map<string, Counters>;
}

export interface StatementRow extends Counters {
  key: string;
  queryid: string | null;
  query: string;
}

/** A statement whose calls in the window took more than the threshold on average. */
export interface WindowedStatement {
  queryid: string | null;
  calls: number;
  meanMs: number;
  query: string;
}

export interface StatementJudgement {
  count: number;
  slowest: WindowedStatement[];
  /** What was judged: the calls since an earlier check (`window`), or the means since the last reset (`cumulative`: no earlier snapshot). */
  basis: { kind: 'window'; seconds: number } | { kind: 'cumulative' };
}

// Per client, like replication-memory.ts: serve's /health and the alert loop call checkHealth
// with one `sql` again and again; a one-off check has no earlier snapshot.
const memories = new WeakMap<Sql, Snapshot[]>();

/** Every statement's counters (of this database, or of all with scope 'server'). */
export async function statementCounters(tx: TransactionSql, schema: string, scope: HealthScope): Promise<StatementRow[]> {
  const rows = await tx<{ key: string; queryid: string | null; calls: number; total_ms: number; query: string | null }[]>`
    SELECT concat_ws('/', userid, dbid, queryid, toplevel) AS key, queryid::text AS queryid,
           calls::float8 AS calls, total_exec_time AS total_ms,
           left(regexp_replace(coalesce(query, ''), '[[:space:]]+', ' ', 'g'), 120) AS query
    FROM ${tx(schema)}.pg_stat_statements
    WHERE ${scope === 'server'} OR dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return rows.map((r) => ({ key: r.key, queryid: r.queryid, calls: r.calls, totalMs: r.total_ms, query: r.query ?? '' }));
}

/**
 * Judge the statements' calls of the last `windowMs`: the difference between `rows` (now) and
 * the snapshot of `sql`'s earlier checks taken closest to `windowMs` ago (snapshots are kept at
 * most one per tenth of the window), so a statement that stopped being slow stops counting once the window has passed it.
 * Without an earlier snapshot (the first check on this client, e.g. the CLI) the cumulative means
 * since pg_stat_statements_reset() are judged, and `basis` says so. A statement whose counters
 * went down (reset, evicted) counts from zero.
 *
 * @example
 * const judged = judgeWindow(ctx.sql, rows, Date.now(), 300_000, 500);
 * judged.basis; // { kind: 'window', seconds: 300 }
 */
export function judgeWindow(sql: Sql, rows: StatementRow[], now: number, windowMs: number, thresholdMs: number, limit = 3): StatementJudgement {
  const snapshots = memories.get(sql) ?? [];
  // The baseline: the snapshot taken closest to a window ago (checks come at their own pace).
  const distance = (snap: Snapshot) => Math.abs(now - snap.at - windowMs);
  const baseline = snapshots.reduce<Snapshot | undefined>((best, snap) => (best === undefined || distance(snap) < distance(best) ? snap : best), undefined);
  const slow: WindowedStatement[] = [];
  for (const row of rows) {
    const before = baseline?.rows.get(row.key);
    const fresh = !before || row.calls < before.calls;
    const calls = baseline ? row.calls - (fresh ? 0 : before.calls) : row.calls;
    const totalMs = baseline ? row.totalMs - (fresh ? 0 : before.totalMs) : row.totalMs;
    if (calls <= 0) continue;
    const meanMs = totalMs / calls;
    if (meanMs > thresholdMs) slow.push({ queryid: row.queryid, calls, meanMs, query: row.query });
  }
  slow.sort((a, b) => b.meanMs - a.meanMs);
  // Keep what a later check may take as its baseline: the snapshots of the last window and the
  // newest before it, at most one per tenth of a window.
  const older = snapshots.filter((snap) => now - snap.at >= windowMs).at(-1);
  const kept = snapshots.filter((snap) => snap === older || now - snap.at < windowMs);
  const newest = kept.at(-1);
  if (!newest || now - newest.at >= windowMs / 10) kept.push({ at: now, rows: new Map(rows.map((r) => [r.key, { calls: r.calls, totalMs: r.totalMs }])) });
  memories.set(sql, kept);
  return {
    count: slow.length,
    slowest: slow.slice(0, limit),
    basis: baseline ? { kind: 'window', seconds: Math.round((now - baseline.at) / 1000) } : { kind: 'cumulative' },
  };
}
