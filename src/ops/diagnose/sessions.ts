import type { Sql } from 'postgres';
import { oneLine } from './statements.ts';
import type { DiagnoseThresholds, Finding } from './types.ts';

interface SessionRow {
  pid: number;
  database: string | null;
  user: string | null;
  application: string;
  state: string;
  seconds: number;
  query: string;
}

/**
 * Client sessions of the whole server (not only this database) that have run one statement,
 * or sat idle inside a transaction, for too long. Both hold locks and keep VACUUM from removing
 * dead rows everywhere; idle_in_transaction_session_timeout (5min in ops/postgresql.conf) ends
 * the second kind unless a role or session raised it.
 */
export async function sessionFindings(sql: Sql, thresholds: DiagnoseThresholds): Promise<Finding[]> {
  const rows = await sql<SessionRow[]>`
    SELECT pid, datname AS database, usename AS user, application_name AS application, state,
           extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start ELSE state_change END)::float8 AS seconds,
           coalesce(query, '') AS query
      FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND ((state = 'active' AND now() - query_start > make_interval(secs => ${thresholds.longQueryWarnSeconds}))
         OR (state LIKE 'idle in transaction%' AND now() - state_change > make_interval(secs => ${thresholds.idleInTransactionWarnSeconds})))
     ORDER BY seconds DESC`;
  return rows.map((row) => {
    const idle = row.state !== 'active';
    const critical = row.seconds >= (idle ? thresholds.idleInTransactionCriticalSeconds : thresholds.longQueryCriticalSeconds);
    const who = `${row.user ?? '?'}@${row.database ?? '?'}${row.application ? ` (${row.application})` : ''}`;
    return {
      kind: idle ? ('idle-in-transaction' as const) : ('long-running-query' as const),
      severity: critical ? ('critical' as const) : ('warn' as const),
      subject: `pid ${row.pid}`,
      detail: idle
        ? `${who} has been idle in a transaction for ${duration(row.seconds)} (it holds its locks and its snapshot); last statement: ${oneLine(row.query, 120)}`
        : `${who} has been running one statement for ${duration(row.seconds)}: ${oneLine(row.query, 120)}`,
      fix: idle
        ? `\`SELECT pg_terminate_backend(${row.pid});\` ends it (its transaction rolls back); then find the code path that leaves a transaction open (an await between BEGIN and COMMIT on something slow)`
        : `\`SELECT pg_cancel_backend(${row.pid});\` cancels the statement (\`pg_terminate_backend(${row.pid})\` if that is not enough); then look at its plan, or give the role a statement_timeout`,
    };
  });
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
