import type { Socket } from 'node:net';
import { JeexDbError } from '../core/errors.ts';

/** libpq's `target_session_attrs` values. */
export const SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const;
export type SessionAttrs = (typeof SESSION_ATTRS)[number];

/**
 * The `target_session_attrs` in force: the connection string's, else PGTARGETSESSIONATTRS, else
 * `any` (libpq's order). INVALID_CONFIG for a value libpq does not know.
 *
 * @example
 * sessionAttrs('read-write'); // 'read-write'
 */
export function sessionAttrs(given: string | undefined, env: NodeJS.ProcessEnv = process.env): SessionAttrs {
  const value = given ?? env.PGTARGETSESSIONATTRS ?? 'any';
  if ((SESSION_ATTRS as readonly string[]).includes(value)) return value as SessionAttrs;
  throw new JeexDbError('INVALID_CONFIG', `target_session_attrs=${value} is not one of ${SESSION_ATTRS.join(', ')}`, {
    hint: 'Use target_session_attrs=primary (or read-write) to reach the primary of a multi-host URL, standby or prefer-standby for a replica.',
  });
}

/**
 * What postgres.js 3.4's own `target_session_attrs` must be told, where it checks a connection
 * itself (an explicit `ssl` or `socket` option of `connect`), so that it means what libpq means:
 * its `read-write` only checks default_transaction_read_only, so it accepts a hot standby; its
 * `read-only` rejects every server whose default_transaction_read_only is off, a hot standby too,
 * so it never connects; its `prefer-standby` rejects every primary (it looks at a retry counter it
 * never raises). Hence read-write → `primary`, read-only → `standby`, prefer-standby → no check
 * (any server), any → no check. Elsewhere jeex-db checks the server itself (`checkSessionRole`).
 *
 * @example
 * postgresJsSessionAttrs('read-write'); // 'primary'
 */
export function postgresJsSessionAttrs(attrs: SessionAttrs): 'primary' | 'standby' | undefined {
  if (attrs === 'read-write' || attrs === 'primary') return 'primary';
  if (attrs === 'read-only' || attrs === 'standby') return 'standby';
  return undefined;
}

/** What a server said it is at login (PostgreSQL 14+ reports both without being asked). */
export interface SessionRole {
  inHotStandby?: boolean;
  defaultReadOnly?: boolean;
}

/**
 * Whether a server fits: `primary` is not in hot standby; `read-write` also has
 * default_transaction_read_only off (libpq's meaning, not postgres.js's); `standby` and `read-only`
 * are in hot standby (read-only: or default_transaction_read_only on); `prefer-standby` and `any`
 * take any server (prefer-standby's preference is the host order, see HostList). A server that
 * reported neither parameter (PgBouncer may not pass them on) fits: nothing says otherwise.
 */
export function fits(attrs: SessionAttrs, role: SessionRole): boolean {
  const standby = role.inHotStandby;
  switch (attrs) {
    case 'primary':
      return standby !== true;
    case 'read-write':
      return standby !== true && role.defaultReadOnly !== true;
    case 'standby':
      return standby !== false;
    case 'read-only':
      return standby !== false || role.defaultReadOnly === true;
    default:
      return true;
  }
}

const PARAMETER_STATUS = 0x53; // 'S'
const READY_FOR_QUERY = 0x5a; // 'Z'

/**
 * Watch a new connection's login for the server's role (ParameterStatus `in_hot_standby`,
 * `default_transaction_read_only`). A server that does not fit `attrs` is dropped before
 * postgres.js sees its ReadyForQuery, so no statement is ever sent to it: the socket is
 * destroyed with an error of code `TARGET_SESSION_ATTRS` (a connection that never reached a
 * server to run on: the statement waiting for it is sent again, see gated-sql) and `onUnfit`
 * runs. `prefer-standby` drops a primary only while `othersLeft()` says another host may be a
 * standby. Stops looking at the first ReadyForQuery; bytes pass untouched.
 *
 * @example
 * checkSessionRole(socket, 'primary', '10.0.0.2:5432', () => hosts.markFailed(address));
 */
export function checkSessionRole(socket: Socket, attrs: SessionAttrs, where: string, onUnfit: (role: SessionRole) => void, othersLeft: () => boolean = () => false): void {
  if (attrs === 'any') return;
  // prefer-standby: a primary only when no other host is left to try (libpq's second pass).
  const wanted = (role: SessionRole) => (attrs === 'prefer-standby' ? role.inHotStandby !== false || !othersLeft() : fits(attrs, role));
  const role: SessionRole = {};
  let pending: Buffer = Buffer.alloc(0);
  let done = false;
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (done || event !== 'data' || !Buffer.isBuffer(args[0])) return emit(event, ...args);
    pending = pending.length === 0 ? args[0] : Buffer.concat([pending, args[0]]);
    let i = 0;
    while (!done && i + 5 <= pending.length) {
      const type = pending[i];
      const length = pending.readInt32BE(i + 1);
      if (i + 1 + length > pending.length) break;
      if (type === PARAMETER_STATUS) {
        const body = pending.toString('utf8', i + 5, i + 1 + length);
        const [name, value] = body.split('\0');
        if (name === 'in_hot_standby') role.inHotStandby = value === 'on';
        if (name === 'default_transaction_read_only') role.defaultReadOnly = value === 'on';
      }
      if (type === READY_FOR_QUERY) done = true;
      i += 1 + length;
    }
    pending = done ? Buffer.alloc(0) : pending.subarray(i);
    if (done && !wanted(role)) {
      onUnfit(role);
      const is = role.inHotStandby ? 'a hot standby' : role.inHotStandby === false ? `a primary${role.defaultReadOnly ? ' with default_transaction_read_only on' : ''}` : 'read-only';
      const error = Object.assign(new Error(`the server at ${where} is ${is}, and target_session_attrs=${attrs} asks for ${attrs === 'standby' || attrs === 'read-only' || attrs === 'prefer-standby' ? 'a standby' : 'a primary'}`), {
        code: 'TARGET_SESSION_ATTRS',
        errno: 'TARGET_SESSION_ATTRS',
        address: where,
      });
      // The chunk with the ReadyForQuery is not handed on: postgres.js must not send the query.
      socket.destroy(error);
      return true;
    }
    return emit(event, ...args);
  }) as Socket['emit'];
}
