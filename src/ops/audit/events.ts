/** What `jeex-db audit` shows: one timeline of connections, denied statements and data changes. */
export type AuditKind = 'connection' | 'failure' | 'denied' | 'statement' | 'change';

/** The kinds shown unless asked otherwise: what a security review looks at first. */
export const DEFAULT_AUDIT_KINDS: readonly AuditKind[] = ['failure', 'denied', 'change'];

export interface AuditEvent {
  /** ISO time. */
  at: string;
  kind: AuditKind;
  /**
   * connection: received, authenticated, authorized, disconnected; failure: authentication
   * failed, refused, idle timeout, ...; denied: permission denied; statement: statement;
   * change: INSERT, UPDATE, DELETE.
   */
  action: string;
  /** Where it came from: the server's JSON log or the audit table. */
  source: 'log' | 'audit-table';
  role?: string;
  database?: string;
  clientAddr?: string;
  application?: string;
  sqlState?: string;
  /** The server's message (log) or a summary (change). */
  message: string;
  /** The statement (denied, statement), cut to 500 characters; bind parameters are never logged. */
  statement?: string;
  pid?: number;
  /** change: the table, the row's key, the application user, the transaction, what changed (redacted). */
  table?: string;
  rowKey?: Record<string, unknown>;
  appUser?: string;
  sessionRole?: string;
  transactionId?: string;
  oldValues?: Record<string, unknown> | null;
  newValues?: Record<string, unknown> | null;
}

/** One line of PostgreSQL's jsonlog (the fields we read). */
export interface JsonLogRecord {
  timestamp?: string;
  user?: string;
  dbname?: string;
  pid?: number;
  remote_host?: string;
  remote_port?: number;
  error_severity?: string;
  state_code?: string;
  message?: string;
  detail?: string;
  statement?: string;
  application_name?: string;
  backend_type?: string;
}

/** `2026-11-25 19:24:44.844 UTC` (log_timezone = 'UTC') -> ISO; other zones as Date.parse reads them. */
export function logTime(timestamp: string | undefined): string | undefined {
  if (!timestamp) return undefined;
  const utc = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC$/.exec(timestamp);
  const ms = utc ? Date.parse(`${utc[1]}T${utc[2]}Z`) : Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** SQLSTATEs of a connection that did not get in, or was closed by the server. */
const FAILURES: Record<string, string> = {
  '28P01': 'authentication failed',
  '28000': 'refused (pg_hba.conf or no such role)',
  '3D000': 'no such database',
  '42501': 'no CONNECT privilege',
  '53300': 'too many connections',
  '57P05': 'closed: idle-session timeout',
  '25P03': 'closed: idle-in-transaction timeout',
};

/** Cut to `max` characters, with any `PASSWORD '...'` (a verifier, or worse) masked. */
const cut = (text: string | undefined, max = 500) => {
  const masked = text?.replace(/(PASSWORD\s+)'(?:[^']|'')*'/gi, "$1'***'");
  return masked && masked.length > max ? `${masked.slice(0, max)}…` : masked;
};

/**
 * Classify one JSON log record, or undefined when it is none of the audit's business (a
 * checkpoint, a slow-query duration line). A FATAL with an access SQLSTATE is a failed
 * connection (a login as a role without CONNECT is 42501 too, but FATAL); an ERROR 42501 is a
 * denied statement.
 */
export function classifyLogRecord(record: JsonLogRecord): AuditEvent | undefined {
  const at = logTime(record.timestamp);
  const message = record.message ?? '';
  if (!at) return undefined;
  const base = {
    at,
    source: 'log' as const,
    message,
    ...(record.user ? { role: record.user } : {}),
    ...(record.dbname ? { database: record.dbname } : {}),
    ...(record.remote_host ? { clientAddr: record.remote_host } : {}),
    ...(record.application_name ? { application: record.application_name } : {}),
    ...(record.state_code ? { sqlState: record.state_code } : {}),
    ...(record.pid ? { pid: record.pid } : {}),
  };
  const code = record.state_code ?? '';
  if (record.error_severity === 'FATAL' && FAILURES[code]) return { ...base, kind: 'failure', action: FAILURES[code] ?? code };
  if (record.error_severity === 'ERROR' && code === '42501') {
    return { ...base, kind: 'denied', action: 'permission denied', ...(record.statement ? { statement: cut(record.statement) } : {}) };
  }
  if (record.error_severity !== 'LOG') return undefined;
  const connection = /^(connection received|connection authenticated|connection authorized|disconnection):/.exec(message);
  if (connection) {
    const action = { 'connection received': 'received', 'connection authenticated': 'authenticated', 'connection authorized': 'authorized', disconnection: 'disconnected' }[connection[1] ?? ''] ?? '';
    return { ...base, kind: 'connection', action };
  }
  // log_statement: "statement: SELECT ..." (simple protocol) or "execute <name>: SELECT ..." (extended).
  const statement = /^(?:statement|execute [^:]*): ([\s\S]*)$/.exec(message);
  if (statement) return { ...base, kind: 'statement', action: 'statement', statement: cut(statement[1]) };
  return undefined;
}
