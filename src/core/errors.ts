import { inspect } from 'node:util';

/**
 * Every error this package raises is a `JeexDbError` with a stable `code` (listed in the
 * README under "Error codes"). Scripts switch on `code`; people read `message`, which says
 * what happened and what to do next.
 */
export const errorCodes = [
  // Data: raised by queries, translated from PostgreSQL.
  'UNIQUE_VIOLATION',
  'FOREIGN_KEY_VIOLATION',
  'CHECK_VIOLATION',
  'NOT_NULL_VIOLATION',
  'INTEGRITY_VIOLATION',
  'INVALID_INPUT',
  'VERSION_CONFLICT',
  'NOT_FOUND',
  'SERIALIZATION_FAILURE',
  'DEADLOCK',
  'LOCK_TIMEOUT',
  'STATEMENT_TIMEOUT',
  'INSUFFICIENT_PRIVILEGE',
  'SCHEMA_MISSING',
  'TOO_MANY_CONNECTIONS',
  'AUTHENTICATION_FAILED',
  'CONNECTION_FAILED',
  'UNSUPPORTED_SERVER',
  'QUERY_FAILED',
  'WRITE_OUTCOME_UNKNOWN',
  // Configuration.
  'INVALID_CONFIG',
  // The local cluster (`jeex-db up` / `down`).
  'PORT_IN_USE',
  'DATA_DIR_NOT_WRITABLE',
  'DATA_DIR_VERSION_MISMATCH',
  'INITDB_FAILED',
  'SERVER_START_FAILED',
  'SERVER_START_TIMEOUT',
  'SERVER_STOPPED',
  'BINARIES_MISSING',
  'OS_USER_MISSING',
  'MIGRATION_FAILED',
  'LOCAL_STATE_DAMAGED',
  // The migration runner (`jeex-db migrate`, `status`, `rollback`, `check`).
  'MIGRATIONS_PENDING',
  'MIGRATION_CHECKSUM_MISMATCH',
  'MIGRATION_MISSING',
  'MIGRATION_OUT_OF_ORDER',
  'MIGRATION_COLLISION',
  'MIGRATION_FILE_MISSING',
  'MIGRATION_NOT_IN_JOURNAL',
  'MIGRATION_LOCKED',
  'MIGRATION_MIXED_TRANSACTION',
  'MIGRATION_INVALID_DIRECTIVE',
  'MIGRATION_LINT',
  'MIGRATION_NO_DOWN',
  'SCHEMA_DRIFT',
  // Connection pooling (the app's pool and PgBouncer).
  'POOL_TIMEOUT',
  'QUERY_TIMEOUT',
  'POOLER_START_FAILED',
  // TLS (`jeex-db up`, `tls init`).
  'TLS_REQUIRED',
  'TLS_CERT_INVALID',
  // Backups and restores.
  'BACKUP_NOT_FOUND',
  'RESTORE_TARGET_NOT_EMPTY',
  'RESTORE_TARGET_UNREACHABLE',
  'RESTORE_FAILED',
  'BACKUP_FAILED',
  'BACKUP_WAL_MISSING',
  'BACKUP_VERIFY_FAILED',
  'BACKUP_DECRYPT_FAILED',
  'BACKUP_RECORD_DAMAGED',
  'BACKUP_WAL_DAMAGED',
  'RESTORE_INCOMPLETE',
  // Column encryption (users' email and name) and its keys.
  'ENCRYPTION_KEY_MISSING',
  'ENCRYPTION_KEY_UNKNOWN',
  'DECRYPT_FAILED',
  'ENCRYPTION_KEY_MISMATCH',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface JeexDbErrorOptions {
  cause?: unknown;
  /** What to do next, when the message itself cannot say it in one sentence. */
  hint?: string;
  /** SQLSTATE of the PostgreSQL error this was translated from. */
  sqlState?: string;
  constraint?: string;
  table?: string;
  columns?: string[];
  /** PostgreSQL's DETAIL. It can hold row values (personal data), so it is not enumerable. */
  detail?: string;
  /** Lines of the server log that explain a lifecycle failure. */
  logExcerpt?: string[];
  /** Anything else a script may need (e.g. the port, the data directory). */
  context?: Record<string, unknown>;
}

export class JeexDbError extends Error {
  override readonly name = 'JeexDbError';
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly sqlState?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly columns?: string[];
  declare readonly detail?: string;
  readonly logExcerpt?: string[];
  readonly context?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: JeexDbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.sqlState !== undefined) this.sqlState = options.sqlState;
    if (options.constraint !== undefined) this.constraint = options.constraint;
    if (options.table !== undefined) this.table = options.table;
    if (options.columns !== undefined) this.columns = options.columns;
    if (options.logExcerpt !== undefined) this.logExcerpt = options.logExcerpt;
    if (options.context !== undefined) this.context = options.context;
    Object.defineProperty(this, 'detail', { value: options.detail, enumerable: false });
    // The cause may carry query parameters and DETAIL; keep it out of JSON.stringify.
    if (options.cause !== undefined) Object.defineProperty(this, 'cause', { enumerable: false });
  }

  /**
   * What console.log / util.inspect / loggers show: the stack and the safe fields. Node would
   * otherwise print `[cause]` in full, with PostgreSQL's DETAIL (row values) and parameters.
   */
  [inspect.custom](): string {
    const { message: _message, ...fields } = this.toJSON();
    return `${this.stack ?? `${this.name}: ${this.message}`} ${inspect(fields)}`;
  }

  /** The fields a script may rely on, for `--json` output and structured logs. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint && { hint: this.hint }),
      ...(this.sqlState && { sqlState: this.sqlState }),
      ...(this.constraint && { constraint: this.constraint }),
      ...(this.table && { table: this.table }),
      ...(this.columns && { columns: this.columns }),
      ...(this.logExcerpt && { logExcerpt: this.logExcerpt }),
      ...(this.context && { context: this.context }),
    };
  }
}

export function isJeexDbError(error: unknown, code?: ErrorCode): error is JeexDbError {
  return error instanceof JeexDbError && (code === undefined || error.code === code);
}
