import type { Sql } from 'postgres';
import type { AuditEvent } from './events.ts';

/** A row of jeex_audit.changes as the server returns it. */
export interface ChangeRow {
  id: number;
  at: Date;
  table_name: string;
  operation: string;
  row_key: Record<string, unknown>;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  db_role: string;
  session_role: string;
  app_user: string | null;
  client_addr: string | null;
  application_name: string | null;
  transaction_id: string;
}

/**
 * The audit table's rows between `since` and `until` (newest `limit`), as timeline events.
 * `sql` must be allowed to read jeex_audit.changes: the owner role or a superuser (no
 * application role is). Undefined when the table does not exist (migration 0004_audit_trail not applied).
 */
export async function readChangeEvents(sql: Sql, options: { since?: Date; until?: Date; limit: number }): Promise<{ events: AuditEvent[]; total: number } | undefined> {
  const [exists] = await sql<{ ok: boolean }[]>`SELECT to_regclass('jeex_audit.changes') IS NOT NULL AS ok`;
  if (!exists?.ok) return undefined;
  const since = options.since?.toISOString() ?? null;
  const until = options.until?.toISOString() ?? null;
  const range = sql`(${since}::timestamptz IS NULL OR at >= ${since}::timestamptz) AND (${until}::timestamptz IS NULL OR at < ${until}::timestamptz)`;
  const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM jeex_audit.changes WHERE ${range}`;
  const rows = await sql<ChangeRow[]>`
    SELECT id::int, at, table_name, operation, row_key, old_values, new_values, db_role, session_role, app_user,
           host(client_addr) AS client_addr, application_name, transaction_id::text
    FROM jeex_audit.changes WHERE ${range} ORDER BY at DESC, id DESC LIMIT ${options.limit}`;
  const events = rows.reverse().map((row): AuditEvent => {
    const key = Object.values(row.row_key).map(String).join(', ');
    return {
      at: row.at.toISOString(),
      kind: 'change',
      action: row.operation,
      source: 'audit-table',
      role: row.db_role,
      sessionRole: row.session_role,
      ...(row.client_addr ? { clientAddr: row.client_addr } : {}),
      ...(row.application_name ? { application: row.application_name } : {}),
      ...(row.app_user ? { appUser: row.app_user } : {}),
      table: row.table_name,
      rowKey: row.row_key,
      transactionId: row.transaction_id,
      oldValues: row.old_values,
      newValues: row.new_values,
      message: `${row.operation} ${row.table_name} ${key}${row.operation === 'UPDATE' ? ` (${Object.keys(row.new_values ?? {}).join(', ')})` : ''}`,
    };
  });
  return { events, total: count?.n ?? 0 };
}
