import { inspect } from 'node:util';
import type { ErrorCode } from './codes.ts';

/**
 * Every error this package raises is a `JeexDbError` with a stable `code`: the registry in
 * ./codes.ts lists them with their exit codes, and docs/errors.md is generated from it. Scripts
 * switch on `code`; people read `message`, which says what happened and what to do next.
 */
export { errorCodes, type ErrorCode } from './codes.ts';

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
