import { constraints } from '../schema/constraints.ts';
import { JeexDbError, type ErrorCode } from '../core/errors.ts';

/** The fields of a PostgreSQL error as postgres.js exposes them. */
interface PgErrorFields {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  constraint_name?: string;
  table_name?: string;
  column_name?: string;
}

const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/** Node's codes for a server certificate the client does not accept (OpenSSL's names, and the host name check's). */
const certificateErrors = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_PURPOSE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const TLS_URL_HINT = 'use the URL `jeex-db up` prints (`jeex-db url`): sslmode=verify-full&sslrootcert=<data dir>/tls/ca.crt';

/** A TLS failure before PostgreSQL said anything: the certificate, the protocol version, or no TLS at all. */
function fromTls(code: string, message: string, cause: unknown): JeexDbError | undefined {
  if (certificateErrors.has(code)) {
    return new JeexDbError('CONNECTION_FAILED', `TLS: the server's certificate was not accepted: ${message} (${code})`, {
      hint:
        code === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? 'Connect with a host name the certificate names (the local one: localhost, 127.0.0.1, ::1; add more with `jeex-db tls init --host NAME`), or check that the URL points at the right server.'
          : `Check that sslrootcert names the CA that issued the server's certificate: ${TLS_URL_HINT}.`,
      cause,
    });
  }
  // Node reports OpenSSL's failures on a socket it was handed as EPROTO, with OpenSSL's text.
  if (code.startsWith('ERR_SSL_') || code === 'ERR_SERVER_NO_TLS' || (code === 'EPROTO' && /SSL routines/.test(message))) {
    const reason = /alert protocol version|unsupported protocol|no protocols available|PROTOCOL_VERSION/i.test(`${code} ${message}`)
      ? 'The client and the server share no TLS version: jeex-db speaks TLS 1.3 (and its servers only that); for an older server add ssl_min_protocol_version=TLSv1.2 to the URL.'
      : code === 'ERR_SERVER_NO_TLS'
        ? 'The server does not offer TLS: start it with TLS (`jeex-db up` without --no-tls), or, only for a server whose network you trust, sslmode=disable.'
        : `Check that the server speaks TLS on that port and that the URL is right: ${TLS_URL_HINT}.`;
    return new JeexDbError('CONNECTION_FAILED', `TLS to the server failed: ${message.trim()} (${code})`, { hint: reason, cause });
  }
  return undefined;
}

function isPgError(value: unknown): value is PgErrorFields {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((value as { code: string }).code) &&
    // PgBouncer 1.18 sends only the localized severity (postgres.js: severity_local).
    (typeof (value as { severity?: unknown }).severity === 'string' || typeof (value as { severity_local?: unknown }).severity_local === 'string')
  );
}

/** Drizzle wraps driver errors (and puts the parameters in its message): find the driver's. */
function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    if (isPgError(current) || current instanceof JeexDbError) return current;
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined) return current;
    current = cause;
  }
  return current;
}

const POOLER_LOG = "PgBouncer's log (pgbouncer/pgbouncer.log in the data directory of `jeex-db up`, else the logfile in pgbouncer.ini)";

/** A login role may change its own password (src/ops/roles/role-record.ts); what to do when it did. */
const PASSWORD_CHANGED =
  "the role's password was changed on the server (ALTER ROLE ... PASSWORD, which a login role may run on itself; `jeex-db health` names the role under postgresql:rolePasswords): " +
  '`jeex-db roles apply` sets the local cluster\'s back (the one in secrets.json, PgBouncer reloaded); elsewhere give it a new one with `jeex-db roles rotate <role> --url ...` and update the URLs.';

/**
 * PgBouncer's own errors. 1.18 sends them all as SQLSTATE 08P01 (newer versions use other codes),
 * so they are told apart by their fixed texts, before the SQLSTATE is looked at.
 */
const byPoolerMessage: { match: RegExp; code: ErrorCode; what: string; next: string }[] = [
  {
    match: /\bquery_wait_timeout\b/,
    code: 'POOL_TIMEOUT',
    what: "PgBouncer's queue timed out: no server connection became free within its query_wait_timeout",
    next:
      'Every server connection stayed busy: look for slow queries or long transactions (pg_stat_activity; SHOW POOLS on the PgBouncer console), or raise default_pool_size or query_wait_timeout in pgbouncer.ini. ' +
      `Or PgBouncer could not log in to PostgreSQL meanwhile ("login failed" in ${POOLER_LOG}): ${PASSWORD_CHANGED}`,
  },
  {
    match: /no more connections allowed \(max_client_conn\)/,
    code: 'TOO_MANY_CONNECTIONS',
    what: 'PgBouncer refused the connection: max_client_conn clients are connected already',
    next: 'Lower JEEX_DB_POOL_MAX across the services that share it, or raise max_client_conn in pgbouncer.ini.',
  },
  {
    match: /server login has been failing|pgbouncer cannot connect to server|client_login_timeout \(server down\)/,
    code: 'CONNECTION_FAILED',
    what: 'PgBouncer cannot log in to PostgreSQL',
    next: `Read ${POOLER_LOG}, and check that PostgreSQL is up and accepts the role's password ("password authentication failed" there: ${PASSWORD_CHANGED}); PgBouncer tries again every server_login_retry seconds (1 in the pgbouncer.ini jeex-db generates, 15 by PgBouncer's default).`,
  },
  {
    match: /^SSL required$/,
    code: 'CONNECTION_FAILED',
    what: 'PgBouncer accepts TLS connections only',
    next: `The URL asks for no TLS: ${TLS_URL_HINT}.`,
  },
  {
    match: /^unsupported startup parameter/,
    code: 'INVALID_CONFIG',
    what: 'PgBouncer refused a startup parameter',
    next: 'Behind PgBouncer, set statement_timeout and the like per role (ALTER ROLE ... SET) or with SET LOCAL inside a transaction, not as connection parameters.',
  },
];

const bySqlState: Record<string, { code: ErrorCode; what: string; next: string }> = {
  '26000': {
    code: 'QUERY_FAILED',
    what: 'a prepared statement is missing on this server connection',
    next: "Behind PgBouncer in transaction mode (before 1.21, or with max_prepared_statements = 0) each transaction may get another server connection: turn prepared statements off (prepare: false, JEEX_DB_PREPARE=false; the default with pooler: 'pgbouncer').",
  },
  '23502': { code: 'NOT_NULL_VIOLATION', what: 'a required value is missing', next: 'Provide a value for it.' },
  '40001': {
    code: 'SERIALIZATION_FAILURE',
    what: 'the transaction conflicted with a concurrent one',
    next: 'Retry the whole transaction.',
  },
  '40P01': { code: 'DEADLOCK', what: 'the transaction was chosen as a deadlock victim', next: 'Retry the whole transaction.' },
  '55P03': {
    code: 'LOCK_TIMEOUT',
    what: 'a lock could not be taken within lock_timeout',
    next: 'Retry later, or find the blocking session in pg_stat_activity.',
  },
  '57014': {
    code: 'STATEMENT_TIMEOUT',
    what: 'the statement was cancelled (statement_timeout or a cancel request)',
    next: 'Make the query cheaper or raise statement_timeout for this role.',
  },
  '42501': {
    code: 'INSUFFICIENT_PRIVILEGE',
    what: 'the role lacks a privilege for this statement',
    next: 'Connect with the role meant for this work (see docs/roles-and-audit.md).',
  },
  '42P01': {
    code: 'SCHEMA_MISSING',
    what: 'a table does not exist',
    next: 'Apply the migrations: `npx jeex-db up` (local) or run them against DATABASE_URL.',
  },
  '53300': {
    code: 'TOO_MANY_CONNECTIONS',
    what: 'the server has no free connection slots',
    next: 'Lower the pool size (JEEX_DB_POOL_MAX) or put PgBouncer in front.',
  },
  '28P01': {
    code: 'AUTHENTICATION_FAILED',
    what: 'password authentication failed',
    next: `Check the user and password in DATABASE_URL (or PGUSER/PGPASSWORD). If they worked before: ${PASSWORD_CHANGED}`,
  },
  '28000': {
    code: 'AUTHENTICATION_FAILED',
    what: 'the server refused this connection (pg_hba.conf)',
    next: 'Check pg_hba.conf and the user, database and host you connect with.',
  },
  '3D000': { code: 'CONNECTION_FAILED', what: 'the database does not exist', next: 'Create it, or fix the database name in the URL.' },
};

function fromConstraint(pg: PgErrorFields, code: ErrorCode): JeexDbError {
  const name = pg.constraint_name ?? 'unknown_constraint';
  const info = constraints[name];
  const parentDelete = code === 'FOREIGN_KEY_VIOLATION' && pg.message.startsWith('update or delete on table');
  const sentence = (parentDelete ? info?.onParentDelete : info?.message) ?? pg.message;
  const fallbackHint =
    code === 'FOREIGN_KEY_VIOLATION' && parentDelete ? 'Delete or reassign the rows that reference it first.' : undefined;
  const hint = info?.hint ?? pg.hint ?? fallbackHint;
  // A catalog entry with no columns (the append-only trigger) defers to the column the server
  // reported, so the caller learns which column it may not change.
  const columns = info?.columns.length ? info.columns : pg.column_name ? [pg.column_name] : info?.columns;
  return new JeexDbError(code, `${name}: ${sentence}`, {
    sqlState: pg.code,
    constraint: name,
    ...(info?.table ?? pg.table_name ? { table: info?.table ?? pg.table_name } : {}),
    ...(columns ? { columns } : {}),
    ...(hint ? { hint } : {}),
    ...(pg.detail ? { detail: pg.detail } : {}),
    cause: pg,
  });
}

/**
 * Turn anything a query can throw into a `JeexDbError`. PostgreSQL's constraint errors get the
 * constraint, table, columns and a sentence from the schema's catalog:
 * `users_email_hash_unique: a user with this email already exists` (the blind index of the
 * encrypted email; the message speaks of the email).
 *
 * @example
 * try { await createUser(db, input) } catch (e) { throw translateDbError(e) }
 */
export function translateDbError(error: unknown): JeexDbError {
  const root = rootCause(error);
  if (root instanceof JeexDbError) return root;

  if (isPgError(root)) {
    switch (root.code) {
      case '23505':
        return fromConstraint(root, 'UNIQUE_VIOLATION');
      case '23503':
        return fromConstraint(root, 'FOREIGN_KEY_VIOLATION');
      case '23514':
        return fromConstraint(root, 'CHECK_VIOLATION');
      case '23000':
        return fromConstraint(root, 'INTEGRITY_VIOLATION');
      case '23502': {
        const column = root.column_name ?? 'a column';
        const table = root.table_name ?? 'the table';
        return new JeexDbError('NOT_NULL_VIOLATION', `${table}.${column} is required but was null`, {
          sqlState: root.code,
          ...(root.table_name ? { table: root.table_name } : {}),
          ...(root.column_name ? { columns: [root.column_name] } : {}),
          hint: `Provide a value for ${column}.`,
          cause: root,
        });
      }
    }
    const pooler = byPoolerMessage.find((entry) => entry.match.test(root.message));
    if (pooler) {
      return new JeexDbError(pooler.code, `${pooler.what} (PgBouncer: "${root.message}"). ${pooler.next}`, {
        sqlState: root.code,
        hint: pooler.next,
        cause: root,
      });
    }
    if (root.code === '28000' && /no encryption/.test(root.message)) {
      const next = `The server accepts TLS connections only: ${TLS_URL_HINT}.`;
      return new JeexDbError('AUTHENTICATION_FAILED', `the server refused a connection without TLS: ${root.message}. ${next}`, { sqlState: root.code, hint: next, cause: root });
    }
    const known = bySqlState[root.code];
    if (known) {
      return new JeexDbError(known.code, `${known.what}: ${root.message}. ${known.next}`, {
        sqlState: root.code,
        hint: known.next,
        ...(root.table_name ? { table: root.table_name } : {}),
        ...(root.detail ? { detail: root.detail } : {}),
        cause: root,
      });
    }
    if (root.code.startsWith('22')) {
      return new JeexDbError('INVALID_INPUT', `invalid value: ${root.message}`, {
        sqlState: root.code,
        hint: 'Check the value against the column type (see the validation schemas).',
        cause: root,
      });
    }
    if (root.code.startsWith('08') || root.code.startsWith('57P')) {
      return new JeexDbError('CONNECTION_FAILED', `the connection to PostgreSQL failed: ${root.message}`, {
        sqlState: root.code,
        hint: 'Retry; if it persists, check that the server is up (`jeex-db up`).',
        cause: root,
      });
    }
    return new JeexDbError('QUERY_FAILED', `${root.message} (SQLSTATE ${root.code})`, {
      sqlState: root.code,
      ...(root.hint ? { hint: root.hint } : {}),
      ...(root.detail ? { detail: root.detail } : {}),
      cause: root,
    });
  }

  const errno = (root as { code?: unknown } | null)?.code;
  if (errno === 'TARGET_SESSION_ATTRS') {
    // session-attrs.ts: the server logged us in, but is not the role the connection string asks for.
    const next = 'With several hosts, check which one is the primary now (`SELECT pg_is_in_recovery()` on each; false on the primary), and that the URL lists it; a standby being promoted becomes one within seconds.';
    return new JeexDbError('CONNECTION_FAILED', `no server fits target_session_attrs: ${root instanceof Error ? root.message : String(root)}`, { hint: next, cause: root });
  }
  const tls = typeof errno === 'string' ? fromTls(errno, root instanceof Error ? root.message : String(root), root) : undefined;
  if (tls) return tls;
  if (typeof errno === 'string' && (connectionErrnos.has(errno) || errno.startsWith('CONNECT_') || errno === 'CONNECTION_CLOSED' || errno === 'CONNECTION_ENDED' || errno === 'CONNECTION_DESTROYED')) {
    const address = (root as { address?: string; port?: number }).address;
    const port = (root as { port?: number }).port;
    const where = address ? ` at ${address}${port ? `:${port}` : ''}` : '';
    return new JeexDbError('CONNECTION_FAILED', `cannot reach PostgreSQL${where} (${errno})`, {
      hint: 'Start it with `jeex-db up`, or check DATABASE_URL.',
      cause: root,
    });
  }
  const message = root instanceof Error ? root.message : String(root);
  return new JeexDbError('QUERY_FAILED', message, { cause: root });
}

/** Where a client reaches PgBouncer, when its URL goes through one (`pooler: 'pgbouncer'`, the local `urls.app`). */
export interface PoolerAddress {
  host: string;
  port: number;
}

const closedErrnos = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

function errnoOf(root: unknown): string | undefined {
  if (isPgError(root) || root instanceof JeexDbError) return undefined;
  const errno = (root as { code?: unknown } | null)?.code;
  return typeof errno === 'string' ? errno : undefined;
}

const RESTART_POOLER =
  "The app's connections go through PgBouncer: start it again with `jeex-db up` (the local cluster; `jeex-db up` in the foreground and `jeex-db serve` restart it on their own), or start the PgBouncer the URL names. PostgreSQL itself may be fine: `jeex-db health` says which part fails.";

/**
 * A connection to PgBouncer that could not be opened or broke at the socket (refused, reset,
 * connect timeout), said as what it is: "PgBouncer at 127.0.0.1:6418 is not answering", not
 * "cannot reach PostgreSQL". Undefined for anything else (PgBouncer's and PostgreSQL's own
 * errors, TLS failures), which `translateDbError` names.
 *
 * @example
 * poolerConnectionError(error, { host: '127.0.0.1', port: 6418 })?.message;
 */
export function poolerConnectionError(error: unknown, pooler: PoolerAddress): JeexDbError | undefined {
  const root = rootCause(error);
  const errno = errnoOf(root);
  if (!errno || !(connectionErrnos.has(errno) || closedErrnos.has(errno) || errno.startsWith('CONNECT_'))) return undefined;
  const where = `${pooler.host.includes(':') ? `[${pooler.host}]` : pooler.host}:${pooler.port}`;
  const what = closedErrnos.has(errno) ? `the connection to PgBouncer at ${where} broke (${errno})` : `PgBouncer at ${where} is not answering (${errno})`;
  return new JeexDbError('CONNECTION_FAILED', `${what}. ${RESTART_POOLER}`, { hint: RESTART_POOLER, cause: root, context: { pooler: where } });
}

/**
 * The connection broke after a write (a statement that may change data, outside a transaction)
 * or a transaction's COMMIT was sent and before its answer came: the server may have committed
 * it, or not, and only reading can tell. `WRITE_OUTCOME_UNKNOWN`, never `CONNECTION_FAILED`:
 * sending it again blindly could apply it twice.
 *
 * @example
 * writeOutcomeUnknown(error, { operation: 'INSERT', through: { host: '127.0.0.1', port: 6418 } });
 */
export function writeOutcomeUnknown(error: unknown, what: { operation: string; through?: PoolerAddress | undefined }): JeexDbError {
  const root = rootCause(error);
  const reason = isPgError(root) ? `${root.message}, SQLSTATE ${root.code}` : (errnoOf(root) ?? (root instanceof Error ? root.message : String(root)));
  const to = what.through ? `PgBouncer at ${what.through.host}:${what.through.port}` : 'PostgreSQL';
  const statement = what.operation === 'COMMIT' ? "the transaction's COMMIT" : `the ${what.operation}`;
  const next =
    'Do not send it again blindly (it would be applied twice if it was committed): read whether its change is there first, or retry only in a way that cannot apply it twice (the same primary key, a unique key, an expected version).';
  return new JeexDbError('WRITE_OUTCOME_UNKNOWN', `the connection to ${to} broke after ${statement} was sent and before its answer came (${reason}): it may have been committed, or not. ${next}`, {
    hint: next,
    ...(isPgError(root) ? { sqlState: root.code } : {}),
    cause: root,
    context: { operation: what.operation },
  });
}
