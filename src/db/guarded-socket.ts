import type { Socket } from 'node:net';
import postgres from 'postgres';
import { UnnamedStatements } from './unnamed-statements.ts';

/*
 * postgres.js 3.4.9 mishandles a connection that dies under it (porsager/postgres#1208, #1154,
 * #1066, #1133; fixes proposed in #1168, #1209, #1215, none released):
 *
 * 1. On 'close' it drops its socket first and rejects the running query after. Inside
 *    `sql.begin` the rejection makes it send ROLLBACK (or the callback's next statement, or
 *    COMMIT), whose bytes are flushed from a setImmediate onto the dropped (null) socket: a
 *    TypeError nobody can catch, and the process exits. Killing a backend, restarting PostgreSQL
 *    or PgBouncer while transactions run does it; so does idle_in_transaction_session_timeout.
 * 2. A FATAL ErrorResponse (57P01 "terminating connection due to administrator command",
 *    PgBouncer's "server conn crashed?" or query_wait_timeout, ...) that arrives during a query is
 *    kept for a ReadyForQuery that never comes on that connection, and then fails the first query
 *    of the *next* connection made in its place.
 * 3. A FATAL error on its array-type lookup, the statement it runs itself on each new connection
 *    (PgBouncer answers so when it cannot reach PostgreSQL), rejects a promise nobody handles:
 *    an unhandled rejection, and the process exits.
 *
 * All are handled here, on the plain TCP/Unix socket we give postgres.js (TLS hides the
 * messages; there the upstream behaviour stays). Messages are framed as they pass both ways. A
 * FATAL ErrorResponse after login is held back; on the array-type lookup, the lookup gets an
 * empty answer instead, so the query waiting for the connection is sent and fails as below. A
 * ReadyForQuery per Sync/Query sent tells whether a statement is in flight, and its status byte
 * whether a transaction is open. When the socket closes:
 * - outside a transaction: postgres.js hears 'close' at once, as before (a statement in flight
 *   first gets the held FATAL error, so it fails with the server's reason);
 * - inside one, a statement in flight: first an 'error' (the held FATAL error, else
 *   CONNECTION_CLOSED as postgres.js says it) rejects it while postgres.js still holds the
 *   socket, so the ROLLBACK that follows goes into the dead socket, harmlessly, and is rejected
 *   the same way; once a turn of the event loop passes without a new write, the 'close' itself.
 *   The transaction has the connection to itself, so nothing else lands on it meanwhile;
 * - inside one, idle: nothing yet; the transaction's next statement (or its COMMIT or ROLLBACK)
 *   is rejected as above, then the 'close'.
 */

const READY_FOR_QUERY = 0x5a; // 'Z'
// CommandComplete "SELECT 0", ReadyForQuery idle: an empty result.
const SETUP_ANSWER = Buffer.from([0x43, 0, 0, 0, 13, ...Buffer.from('SELECT 0\0'), 0x5a, 0, 0, 0, 5, 0x49]);
const ERROR_RESPONSE = 0x45; // 'E'

const errorFields: Record<number, string> = {
  83: 'severity_local',
  86: 'severity',
  67: 'code',
  77: 'message',
  68: 'detail',
  72: 'hint',
  80: 'position',
  87: 'where',
  115: 'schema_name',
  116: 'table_name',
  99: 'column_name',
  110: 'constraint_name',
  70: 'file',
  76: 'line',
  82: 'routine',
};

/** An ErrorResponse message (type, length, fields) as postgres.js would build its error. */
function parseErrorResponse(message: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let start = 5;
  for (let i = 5; i < message.length - 1; i++) {
    if (message[i] === 0) {
      const name = errorFields[message[start] ?? 0];
      if (name) fields[name] = message.toString('utf8', start + 1, i);
      start = i + 1;
    }
  }
  return fields;
}

/**
 * Frames the server's byte stream as it passes (type byte, int32 length, body), without copying
 * unless a message is taken out. Exported for its unit test.
 */
export class ServerMessages {
  /** The first ReadyForQuery went by: login is done. */
  ready = false;
  /** ReadyForQuery messages since login. */
  readies = 0;
  /** Transaction status of the last ReadyForQuery: I (idle), T (in a transaction), E (failed one). */
  status = 'I';
  /** The FATAL error the server sent before closing, held back from postgres.js. */
  fatal: Error | undefined;
  private readonly header = Buffer.alloc(6);
  private headerLength = 0;
  private remaining = 0;
  private held: Buffer[] | undefined;
  private broken = false;

  /** `fatal` came while postgres.js's own setup statement ran (see `answerSetup`). */
  fatalInSetup = false;

  /** @param setupStatements statements postgres.js runs itself after login (the array-type lookup) */
  constructor(
    private readonly onReady: () => void,
    private readonly setupStatements = 0,
  ) {}

  /** Logged in, and postgres.js's own setup statements are done. */
  get inService(): boolean {
    return this.ready && this.readies >= this.setupStatements;
  }

  /** The part of `chunk` to hand on to postgres.js. */
  pass(chunk: Buffer): Buffer {
    if (this.broken) return chunk;
    const out: Buffer[] = [];
    let start = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        this.held?.push(chunk.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0 && this.held) start = this.release(out, i);
        continue;
      }
      if (this.headerLength === 0 && this.ready && chunk[i] === ERROR_RESPONSE) {
        // Hold an ErrorResponse until it is whole: only then is its severity known.
        out.push(chunk.subarray(start, i));
        this.held = [];
      }
      this.header[this.headerLength++] = chunk[i] ?? 0;
      this.held?.push(chunk.subarray(i, i + 1));
      i++;
      // ReadyForQuery's one-byte body (the transaction status) is read with its header.
      const isReady = this.header[0] === READY_FOR_QUERY;
      if (this.headerLength < (isReady ? 6 : 5)) continue;
      this.headerLength = 0;
      const length = this.header.readInt32BE(1);
      if (length < 4 || (isReady && length !== 5)) {
        // Not the protocol we know: stop looking and hand everything on untouched.
        this.broken = true;
        if (this.held) out.push(...this.held);
        this.held = undefined;
        out.push(chunk.subarray(i));
        return Buffer.concat(out);
      }
      if (isReady) {
        this.status = String.fromCharCode(this.header[5] ?? 0x49);
        if (this.ready) this.readies++;
        else {
          this.ready = true;
          this.onReady();
        }
        continue;
      }
      this.remaining = length - 4;
      if (this.remaining === 0 && this.held) start = this.release(out, i);
    }
    if (!this.held) {
      if (start === 0 && out.length === 0) return chunk;
      out.push(chunk.subarray(start));
    }
    return out.length === 1 && out[0] ? out[0] : Buffer.concat(out);
  }

  /** A held ErrorResponse is whole: keep a FATAL one back, hand any other on. */
  private release(out: Buffer[], at: number): number {
    const message = Buffer.concat(this.held ?? []);
    this.held = undefined;
    const fields = parseErrorResponse(message);
    const severity = fields.severity ?? fields.severity_local;
    // PgBouncer's own errors carry only the localized severity ('S'), no 'V'.
    if (severity === 'FATAL') {
      this.fatal = new postgres.PostgresError({ ...fields, severity } as never);
      this.fatalInSetup = !this.inService;
    } else out.push(message);
    return at;
  }

  /**
   * postgres.js's own setup statement (the array-type lookup) met a FATAL error. Rejecting it
   * would be an unhandled rejection inside postgres.js (the process exits), and leaving it
   * unanswered makes postgres.js reconnect for good. So it gets an empty answer: postgres.js then
   * sends the waiting query, which fails with the FATAL error when the socket closes.
   */
  answerSetup(): Buffer {
    this.readies = this.setupStatements;
    this.status = 'I';
    return SETUP_ANSWER;
  }
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'

/** Statements a write from postgres.js asks answers for (Sync and Query messages), or -1 if unreadable. */
export function syncsIn(buffer: Buffer): number {
  let syncs = 0;
  let i = 0;
  while (i + 5 <= buffer.length) {
    const type = buffer[i];
    const length = buffer.readInt32BE(i + 1);
    if (length < 4) return -1;
    if (type === SYNC || type === QUERY) syncs++;
    i += 1 + length;
  }
  return i === buffer.length ? syncs : -1;
}

/** Errors that failed only statements written after their connection had closed (see `closedBeforeSent`). */
const unsent = new WeakSet<object>();

/**
 * Whether `error` (or what it wraps) failed statements that were written only after the
 * connection had closed under an idle transaction: none of them reached the server, so the
 * transaction was rolled back there, even when the statement was its COMMIT.
 */
export function closedBeforeSent(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    if (unsent.has(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface GuardOptions {
  /** Where the socket connects, for the CONNECTION_CLOSED error (a Unix socket: its path). */
  address: string;
  port?: number;
  /** Statements postgres.js runs itself after login (1 with `fetch_types`, its default). */
  setupStatements: number;
  /** Runs at the first ReadyForQuery: login done. */
  onReady: () => void;
  /**
   * postgres.js prepares, and its named statements go out unnamed (`UnnamedStatements`): behind
   * PgBouncer before 1.21, or wherever named statements must not stay on the server.
   */
  unnamedStatements?: boolean;
}

/** Put the guard on a socket before postgres.js gets it. */
export function guardSocket(socket: Socket, options: GuardOptions): void {
  const messages = new ServerMessages(options.onReady, options.setupStatements);
  const statements = options.unnamedStatements ? new UnnamedStatements() : undefined;
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  // Node swaps a socket's `write` for `writeAfterFIN` once the peer closed: keep ours in front.
  type Write = (this: Socket, ...args: unknown[]) => boolean;
  let write = (Object.getPrototypeOf(socket) as { write: Write }).write;
  let writes = 0;
  let writesAtLastReady = 0;
  let syncs = 0;
  let unreadable = false;
  // Set once the socket closed while a transaction was open and idle: the next write settles.
  let waitingForWrite: (() => void) | undefined;

  const guardedWrite = (...args: unknown[]): boolean => {
    writes++;
    if (messages.ready) {
      if (statements && Buffer.isBuffer(args[0])) args[0] = statements.rewrite(args[0]);
      const counted = Buffer.isBuffer(args[0]) ? syncsIn(args[0]) : -1;
      if (counted < 0) unreadable = true;
      else syncs += counted;
    }
    const settleNow = waitingForWrite;
    waitingForWrite = undefined;
    if (settleNow) setImmediate(settleNow);
    return write.apply(socket, args);
  };
  Object.defineProperty(socket, 'write', {
    configurable: true,
    get: () => guardedWrite,
    set: (replacement: (...args: unknown[]) => boolean) => {
      write = replacement;
    },
  });

  const where = options.port === undefined ? options.address : `${options.address}:${options.port}`;
  let closedError: Error | undefined;
  const reason = () =>
    messages.fatal ??
    (closedError ??= Object.assign(new Error(`write CONNECTION_CLOSED ${where}`), {
      code: 'CONNECTION_CLOSED',
      errno: 'CONNECTION_CLOSED',
      address: options.address,
      ...(options.port === undefined ? {} : { port: options.port }),
    }));
  const rejectPending = () => {
    if (socket.listenerCount('error') > 0) emit('error', reason());
  };
  const settle = (hadError: unknown) => {
    rejectPending();
    const before = writes;
    // What the rejections' handlers send is flushed by postgres.js from a setImmediate queued
    // behind this one; look after it.
    setImmediate(() =>
      setImmediate(() => {
        if (writes !== before) return settle(hadError);
        emit('close', hadError);
      }),
    );
  };

  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'data' && Buffer.isBuffer(args[0])) {
      const readies = messages.readies;
      let passed = messages.pass(args[0]);
      if (messages.fatalInSetup && !messages.inService) passed = Buffer.concat([passed, messages.answerSetup()]);
      if (messages.readies !== readies) writesAtLastReady = writes;
      return passed.length > 0 ? emit('data', passed) : true;
    }
    // The connection broke while postgres.js's own setup statement (the array-type lookup) waited
    // for its answer (behind PgBouncer it queues for a server connection): postgres.js would
    // reject that statement with nobody listening, an unhandled rejection that ends the process
    // (porsager/postgres#1192, #1223). It gets the empty answer first; the query that waited is
    // then sent and fails with the close like any other.
    if ((event === 'close' || event === 'error') && messages.ready && !messages.inService) emit('data', messages.answerSetup());
    // The server said why (a FATAL error, held back above) before the connection broke under a
    // write (EPIPE, ECONNRESET: over TLS the write often comes first): that is the reason to give.
    if (event === 'error' && messages.fatal && args[0] !== messages.fatal) return emit('error', messages.fatal);
    // Before login (a refused login, a cancel request's connection) postgres.js's own handling
    // is right: it connects again for the query that waits, and a cancel request waits for
    // exactly this 'close'.
    if (event !== 'close' || !messages.inService) return emit(event, ...args);
    // A statement awaits its ReadyForQuery, or something was sent since the last one (a cursor's
    // or a describe's messages come without Sync).
    const inFlight = unreadable || syncs > messages.readies || writes > writesAtLastReady;
    if (messages.status === 'I') {
      // Outside a transaction nothing writes again after the rejection, and the connection must
      // leave postgres.js's rotation at once (a read's retry would land on it otherwise).
      if (inFlight || messages.fatal) rejectPending();
      return emit('close', ...args);
    }
    if (inFlight) settle(args[0]);
    else
      waitingForWrite = () => {
        unsent.add(reason());
        settle(args[0]);
      };
    return true;
  }) as Socket['emit'];
}
