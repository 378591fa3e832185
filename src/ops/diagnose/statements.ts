import type { Sql } from 'postgres';
import type { DiagnoseThresholds, Finding, SlowStatement, StatementPlan } from './types.ts';

interface StatementRow {
  queryId: string;
  query: string;
  calls: string;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  rows: string;
  shareOfTotal: number;
  sharedBlocksHit: string;
  sharedBlocksRead: string;
}

/**
 * The slowest statements of the current database by total and by mean execution time, from
 * pg_stat_statements (server-wide, so filtered on this database's oid). Throws when the view
 * cannot be read (extension missing or not preloaded); the caller reports that.
 */
export async function readSlowStatements(sql: Sql, thresholds: DiagnoseThresholds): Promise<{ byTotalTime: StatementRow[]; byMeanTime: StatementRow[] }> {
  const limit = thresholds.topStatements;
  const select = sql`
    SELECT queryid::text AS "queryId", query, calls::text, total_exec_time AS "totalMs", mean_exec_time AS "meanMs",
           max_exec_time AS "maxMs", rows::text,
           coalesce(total_exec_time / nullif(sum(total_exec_time) OVER (), 0), 0) AS "shareOfTotal",
           shared_blks_hit::text AS "sharedBlocksHit", shared_blks_read::text AS "sharedBlocksRead"
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND toplevel AND query IS NOT NULL AND query <> '<insufficient privilege>'`;
  const byTotalTime = await sql<StatementRow[]>`SELECT * FROM (${select}) s ORDER BY "totalMs" DESC LIMIT ${limit}`;
  const byMeanTime = await sql<StatementRow[]>`
    SELECT * FROM (${select}) s WHERE calls::bigint >= ${thresholds.slowQueryMinCalls} ORDER BY "meanMs" DESC LIMIT ${limit}`;
  return { byTotalTime, byMeanTime };
}

/** Statements that only read: EXPLAIN of anything else is not attempted. */
export function isReadOnlyStatement(query: string): boolean {
  const text = query.replace(/--[^\n]*\n/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ').trim();
  if (!/^(select|with|values|table)\b/i.test(text)) return false;
  // Strict on purpose: a data-modifying CTE, SELECT INTO (creates a table), row-locking clauses.
  return !/\b(insert|update|delete|merge|into|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share)\b/i.test(text);
}

/**
 * EXPLAIN a statement without running it, inside a READ ONLY transaction that is rolled back,
 * with short lock and statement timeouts. A normalized statement with `$n` placeholders gets
 * EXPLAIN (GENERIC_PLAN) (PostgreSQL 16+): the plan without parameter values.
 */
export async function explainStatement(sql: Sql, query: string): Promise<StatementPlan> {
  if (!isReadOnlyStatement(query)) return { kind: 'not-explained', reason: 'not a plain read: only SELECT statements are explained (nothing is executed); see auto_explain plans in the server log' };
  const generic = /\$\d+/.test(query);
  const options = generic ? 'GENERIC_PLAN, FORMAT JSON' : 'FORMAT JSON';
  try {
    const json = await sql.begin('read only', async (tx) => {
      await tx`SET LOCAL statement_timeout = '5s'`;
      await tx`SET LOCAL lock_timeout = '1s'`;
      const [row] = await tx.unsafe<{ 'QUERY PLAN': unknown }[]>(`EXPLAIN (${options}) ${query}`);
      return row?.['QUERY PLAN'];
    });
    return { kind: generic ? 'generic' : 'estimated', json };
  } catch (error) {
    return { kind: 'not-explained', reason: `EXPLAIN failed: ${(error as Error).message}` };
  }
}

export function toSlowStatement(row: StatementRow, plan: StatementPlan): SlowStatement {
  return {
    queryId: row.queryId,
    query: row.query,
    calls: Number(row.calls),
    totalMs: row.totalMs,
    meanMs: row.meanMs,
    maxMs: row.maxMs,
    rows: Number(row.rows),
    shareOfTotal: row.shareOfTotal,
    sharedBlocksHit: Number(row.sharedBlocksHit),
    sharedBlocksRead: Number(row.sharedBlocksRead),
    plan,
  };
}

export const oneLine = (query: string, max = 160): string => {
  const line = query.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

export function slowStatementFindings(statements: readonly SlowStatement[], thresholds: DiagnoseThresholds): Finding[] {
  return statements
    .filter((s) => s.meanMs >= thresholds.slowQueryMeanMs && s.calls >= thresholds.slowQueryMinCalls)
    .map((s) => ({
      kind: 'slow-query' as const,
      severity: 'warn' as const,
      subject: `queryid ${s.queryId}`,
      detail: `${oneLine(s.query)} — ${s.calls} calls, mean ${s.meanMs.toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms, ${(s.shareOfTotal * 100).toFixed(1)}% of this database's execution time.`,
      fix: `EXPLAIN (ANALYZE, BUFFERS) it with real parameters on a copy of the data (runs over auto_explain.log_min_duration have their plan in the server log: search for its text), then add the index its plan lacks or rewrite it; \`SELECT pg_stat_statements_reset(0, 0, ${s.queryId})\` afterwards to measure again.`,
    }));
}

interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  Schema?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/** Columns compared in the Filter of each Seq Scan of a plan, per table (`schema.table`, as written by EXPLAIN). */
export function seqScanFilters(plan: unknown): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const root = (Array.isArray(plan) ? (plan[0] as { Plan?: PlanNode } | undefined)?.Plan : undefined) ?? undefined;
  const visit = (node: PlanNode) => {
    if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && node.Filter) {
      const table = `${node.Schema ?? 'public'}.${node['Relation Name']}`;
      const columns = found.get(table) ?? new Set<string>();
      // `(status = $1)`, `((email)::text = 'x'::text)`, `(created_at > $2)`: the column left of an operator.
      for (const match of node.Filter.matchAll(/\(+"?([a-z_][a-z0-9_]*)"?\)?(?:::[a-z ]+)?\)?\s*(?:=|<|>|<=|>=|~~|~~\*)\s/gi)) {
        if (match[1]) columns.add(match[1]);
      }
      if (columns.size > 0) found.set(table, columns);
    }
    for (const child of node.Plans ?? []) visit(child);
  };
  if (root) visit(root);
  return found;
}
