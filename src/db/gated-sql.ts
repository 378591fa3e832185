import type { PendingQuery, Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import type { PoolGate } from './pool-gate.ts';
import { closedBeforeSent } from './guarded-socket.ts';
import type { PoolMetrics } from './pool-metrics.ts';
import { poolerConnectionError, translateDbError, writeOutcomeUnknown, type PoolerAddress } from './translate-error.ts';
import { sleep } from '../core/sleep.ts';
import { backoffSchedule } from '../core/backoff.ts';
import { DEFAULT_FAILOVER_WINDOW_MS, FailoverWindow } from './failover-window.ts';

export interface GateOptions {
  gate: PoolGate;
  metrics: PoolMetrics;
  /** Milliseconds before the client gives up on a query and cancels it. */
  queryTimeoutMs: number;
  /** The database name, for db.namespace. */
  namespace: string;
  /**
   * Prepare parameterized statements sent through `unsafe` (what Drizzle uses) on their
   * connection. Drizzle's postgres-js driver asks for `prepare: false` on every query not built
   * with `.prepare(name)`, which costs two round trips per statement (postgres.js describes an
   * unnamed statement before it can bind it) and a parse and plan on the server each time. On
   * where named statements survive (direct connections, PgBouncer 1.21+), and where the socket
   * sends them unnamed (UnnamedStatements: PgBouncer before 1.21).
   */
  prepare?: boolean;
  /**
   * The URL goes through PgBouncer (`pooler: 'pgbouncer'`): a connection it refuses or that
   * breaks at the socket is reported as PgBouncer not answering, at this address.
   */
  pooler?: PoolerAddress;
  /**
   * Milliseconds a statement that never reached a server is sent again for, from its first
   * failure (FailoverWindow). Default 2550 (DEFAULT_FAILOVER_WINDOW_MS).
   */
  failoverWindowMs?: number;
}

type Modifier = [name: 'values' | 'raw' | 'simple' | 'describe', args: unknown[]];

const chainable = new Set(['values', 'raw', 'simple', 'describe']);

const described = new Map<string, { operation: string; collection?: string }>();

/** describeOperation, remembered for the (few hundred) distinct statements an application sends. */
function describeCached(text: string): { operation: string; collection?: string } {
  let found = described.get(text);
  if (!found) {
    if (described.size >= 1000) described.clear();
    described.set(text, (found = describeOperation(text)));
  }
  return found;
}

/** `SELECT`, `INSERT`, ... and the first table, from the SQL text (Drizzle's quoted names too). */
export function describeOperation(text: string): { operation: string; collection?: string } {
  const sql = text.replace(/^\s*(?:--[^\n]*\n\s*)*/, '');
  const operation = (/^\s*([A-Za-z]+)/.exec(sql)?.[1] ?? 'UNKNOWN').toUpperCase();
  const table = /\b(?:from|into|update|join)\s+(?:only\s+)?(?:"?[A-Za-z_][\w$]*"?\.)?"?([A-Za-z_][\w$]*)"?/i.exec(sql)?.[1];
  return table ? { operation, collection: table } : { operation };
}

/**
 * Whether a statement only reads, so that running it again after a broken connection is safe:
 * SELECT/WITH/SHOW/VALUES/TABLE without locking clauses or data-modifying parts.
 */
export function isIdempotentRead(text: string): boolean {
  const sql = text.replace(/'(?:[^']|'')*'/g, "''");
  if (!/^\s*(SELECT|WITH|SHOW|VALUES|TABLE)\b/i.test(sql)) return false;
  if (/\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b/i.test(sql)) return false;
  return !/\b(INSERT|UPDATE|DELETE|MERGE|nextval|setval|pg_advisory_lock|pg_advisory_xact_lock|pg_notify)\b/i.test(sql);
}

/**
 * The connection under the query broke (killed backend, server or PgBouncer restart, reset
 * socket). PgBouncer's query_wait_timeout also arrives as a connection error (08P01), but it
 * means "the pool stayed full": running it again would only wait again.
 */
function connectionBroken(error: unknown): boolean {
  const translated = translateDbError(error);
  return translated.code === 'CONNECTION_FAILED' && !/query_wait_timeout/i.test(translated.message);
}

// TARGET_SESSION_ATTRS: logged in, but the server is not what target_session_attrs asks for
// (a standby where a primary is wanted); it was dropped before anything was sent (session-attrs.ts).
const connectErrnos = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'CONNECT_TIMEOUT', 'TARGET_SESSION_ATTRS']);

/** Socket-level ends of a connection that was open: the peer closed or reset it, or we ended it. */
const closedErrnos = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * The connection broke while a statement was on it: the socket closed or reset, or the server
 * (PostgreSQL, or PgBouncer for it) ended the session with a FATAL error of class 08 or 57P
 * (terminated, shut down). Not a refusal before anything was sent (`neverReachedServer`), nor a
 * login the server turned down (authentication, an unknown database), nor a TLS failure.
 */
export function brokeInFlight(error: unknown): boolean {
  if (neverReachedServer(error)) return false;
  const translated = translateDbError(error);
  if (translated.code !== 'CONNECTION_FAILED') return false;
  if (translated.sqlState) return translated.sqlState.startsWith('08') || ['57P01', '57P02', '57P04'].includes(translated.sqlState);
  const errno = (translated.cause as { code?: unknown } | undefined)?.code;
  return typeof errno === 'string' && closedErrnos.has(errno);
}

/**
 * What a failed statement throws: `WRITE_OUTCOME_UNKNOWN` when it may have run (sent, not a
 * read, and the connection broke before the answer: it may have committed), PgBouncer named
 * when the URL goes through one and it does not answer, else the driver's error as it was.
 */
function finalError(error: unknown, sent: boolean, text: string, options: GateOptions): unknown {
  if (sent && !isIdempotentRead(text) && brokeInFlight(error) && !closedBeforeSent(error)) {
    return writeOutcomeUnknown(error, { operation: describeCached(text).operation, through: options.pooler });
  }
  return (options.pooler && poolerConnectionError(error, options.pooler)) || error;
}

/**
 * The statement never reached PostgreSQL, so running it again is safe whatever it does: the
 * connection could not be opened (refused, no route, connect timeout), the server answered
 * "cannot connect now" (57P03: starting up, shutting down), or PgBouncer turned the client away
 * before giving it a server connection ("server login has been failing": its fast-fail while
 * it cannot log in to PostgreSQL, checked before any byte of the query is forwarded).
 */
export function neverReachedServer(error: unknown): boolean {
  const translated = translateDbError(error);
  if (translated.code !== 'CONNECTION_FAILED') return false;
  if (translated.sqlState === '57P03') return true;
  if (/server login has been failing|pgbouncer cannot connect to server/i.test(translated.message)) return true;
  const errno = (translated.cause as { code?: unknown } | undefined)?.code;
  return typeof errno === 'string' && connectErrnos.has(errno);
}

/**
 * Pauses between attempts of a statement that never reached the server within the default
 * failover window (50, 100, 200, 400, 800 and 1000 ms: 2.55 s in all): enough to ride out a fast
 * restart of PostgreSQL or PgBouncer, short enough that a server that stays down is reported
 * within a few seconds. A longer window (JEEX_DB_FAILOVER_WINDOW) goes on with 1 s pauses.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = Object.freeze(backoffSchedule(6, { initialMs: 50, maxMs: 1000 }));

/** Count a failed acquisition as a timeout only when it was one (not a closing pool). */
function acquireFailed(metrics: PoolMetrics, error: unknown): never {
  if (error instanceof JeexDbError && error.code === 'POOL_TIMEOUT') metrics.timeout();
  throw error;
}

/** Resolves when `promise` settles or after `ms`, whichever comes first; never rejects. */
function settledOrAfter(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void promise.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}

function queryText(args: unknown[]): string {
  const first = args[0] as string | TemplateStringsArray | undefined;
  if (typeof first === 'string') return first;
  if (Array.isArray(first)) return (first as readonly string[]).join('$?');
  return '';
}

/**
 * A postgres.js query behind the gate. The real query object is made at once (so it can still be
 * nested in another query as a fragment: postgres.js checks `instanceof Query`), but awaiting it
 * first waits for a slot in the gate, runs with a client-side timeout, and runs a read once more
 * on a fresh connection if the connection broke under it.
 */
function gatedQuery(make: () => PendingQuery<never>, text: string, options: GateOptions): PendingQuery<never> {
  const first = make();
  const modifiers: Modifier[] = [];
  let running: Promise<unknown> | undefined;
  let attempts = 0;
  // The last attempt was handed to a connection and written (postgres.js sets a query's state
  // when it writes it): only then can it have run.
  let sent = false;
  // A query that timed out still occupies its connection until the cancel request lands.
  let cancelled: Promise<unknown> | undefined;

  const build = (): PendingQuery<never> => {
    // The first attempt runs the object the caller holds; a retry needs a new one.
    if (attempts++ === 0) return first;
    let query = make();
    for (const [name, args] of modifiers) query = (query[name] as (...a: unknown[]) => PendingQuery<never>)(...args);
    return query;
  };

  const attempt = async (): Promise<unknown> => {
    const query = build();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        cancelled = settled;
        // Typed void, but postgres.js returns the cancel request's promise: a refused cancel
        // connection must not become an unhandled rejection.
        void Promise.resolve(query.cancel() as unknown).catch(() => undefined);
        reject(
          new JeexDbError('QUERY_TIMEOUT', `no answer from the database within ${options.queryTimeoutMs} ms; the query was cancelled`, {
            hint: 'The server may be unreachable (a half-open connection) or the query too slow; check the network and pg_stat_activity, or raise JEEX_DB_QUERY_TIMEOUT.',
          }),
        );
      }, options.queryTimeoutMs);
    });
    // Calling the real query's then() is what runs it (postgres.js queries are lazy).
    const settled = Promise.resolve((query as unknown as PromiseLike<unknown>).then((value) => value));
    try {
      return await Promise.race([settled, timeout]);
    } finally {
      sent = (query as unknown as { state?: unknown }).state != null;
      clearTimeout(timer);
      // A cancelled query still settles later; nobody waits for it any more.
      settled.catch(() => undefined);
    }
  };

  const run = async (): Promise<unknown> => {
    const { gate, metrics, namespace } = options;
    const waitStart = performance.now();
    const release = await gate.acquire().catch((error: unknown) => acquireFailed(metrics, error));
    const start = performance.now();
    metrics.waitTime((start - waitStart) / 1000);
    const { operation, collection } = describeCached(text);
    const attributes = { 'db.system.name': 'postgresql', 'db.namespace': namespace, 'db.operation.name': operation, ...(collection ? { 'db.collection.name': collection } : {}) };
    const finish = (extra: Record<string, string>) => metrics.operation((performance.now() - start) / 1000, { ...attributes, ...extra });
    try {
      let value: unknown;
      let readRetried = false;
      const window = new FailoverWindow(options.failoverWindowMs ?? DEFAULT_FAILOVER_WINDOW_MS);
      for (;;) {
        try {
          value = await attempt();
          break;
        } catch (error) {
          // Any statement that never reached a server is sent again after a pause, for as long
          // as the failover window lasts; then it fails saying so.
          if (neverReachedServer(error)) {
            const pause = window.next();
            if (pause === undefined) throw window.expired(finalError(error, sent, text, options));
            await sleep(pause);
            continue;
          }
          // A read on a connection that broke under it (server restart, killed backend,
          // PgBouncer restart) runs once more on a new one; writes are never retried: they may
          // have been applied.
          if (!readRetried && connectionBroken(error) && isIdempotentRead(text)) {
            readRetried = true;
            continue;
          }
          throw finalError(error, sent, text, options);
        }
      }
      finish({});
      return value;
    } catch (error) {
      const translated = translateDbError(error);
      finish({ 'error.type': translated.sqlState ?? translated.code, ...(translated.sqlState ? { 'db.response.status_code': translated.sqlState } : {}) });
      throw error;
    } finally {
      const giveBack = () => {
        metrics.useTime((performance.now() - start) / 1000);
        release();
      };
      // After a client-side timeout the slot is given back once the server has stopped the
      // query (the cancel is a round trip), or after a second when it never answers (a
      // half-open socket), so the gate never counts a still-busy connection as free.
      if (cancelled) void settledOrAfter(cancelled, Math.min(1000, options.queryTimeoutMs)).then(giveBack);
      else giveBack();
    }
  };

  const proxy: PendingQuery<never> = new Proxy(first, {
    get: (target, prop, receiver) => {
      if (prop === 'then') {
        return (onfulfilled?: (value: unknown) => unknown, onrejected?: (reason: unknown) => unknown) => {
          running ??= run();
          return running.then(onfulfilled, onrejected);
        };
      }
      if (prop === 'catch') return (onrejected?: (reason: unknown) => unknown) => (receiver as PromiseLike<unknown>).then(undefined, onrejected);
      if (prop === 'finally') {
        return (onfinally?: () => void) => {
          running ??= run();
          return running.finally(onfinally);
        };
      }
      if (typeof prop === 'string' && chainable.has(prop)) {
        return (...args: unknown[]) => {
          modifiers.push([prop as Modifier[0], args]);
          (target[prop as Modifier[0]] as (...a: unknown[]) => unknown).apply(target, args);
          return proxy;
        };
      }
      return Reflect.get(target, prop, target) as unknown;
    },
  });
  return proxy;
}

type Unsafe = (text: string, params?: unknown[], queryOptions?: { prepare?: boolean }) => PendingQuery<never>;

/**
 * `unsafe` that prepares parameterized statements (see GateOptions.prepare). Statements without
 * parameters keep what the caller asked: their text may be built at run time (SHOW, EXPLAIN of a
 * query, DDL) and each distinct text would stay prepared on the connection.
 */
function preparingUnsafe(unsafe: Unsafe, prepare: boolean | undefined): Unsafe {
  if (!prepare) return unsafe;
  return (text, params, queryOptions) => unsafe(text, params, params && params.length > 0 ? { ...queryOptions, prepare: true } : queryOptions);
}

/** A transaction's `sql` (from `begin`) whose `unsafe` prepares like the client's. */
function preparingTransaction(tx: unknown, prepare: boolean | undefined): unknown {
  if (!prepare || typeof tx !== 'function') return tx;
  const sql = tx as Sql;
  return new Proxy(sql, {
    get: (target, prop, receiver) =>
      prop === 'unsafe' ? preparingUnsafe(target.unsafe.bind(target) as unknown as Unsafe, prepare) : (Reflect.get(target, prop, receiver) as unknown),
  });
}

/**
 * Put the gate in front of a postgres.js client: tagged-template queries, `unsafe` and
 * `begin` (a whole transaction holds one slot) wait for a slot; everything else passes through.
 * Drizzle's postgres-js driver uses exactly these.
 */
export function gateSql(sql: Sql, options: GateOptions): Sql {
  const gated = (make: () => PendingQuery<never>, text: string) => gatedQuery(make, text, options);
  const unsafe = preparingUnsafe(sql.unsafe.bind(sql) as unknown as Unsafe, options.prepare);
  return new Proxy(sql, {
    apply: (target, thisArg, args: unknown[]) => {
      const first = args[0];
      // sql`...` is a query; sql(value) / sql(identifier) builds a fragment and must not be gated.
      if (Array.isArray(first) && 'raw' in (first as object)) return gated(() => Reflect.apply(target, thisArg, args) as PendingQuery<never>, queryText(args));
      return Reflect.apply(target, thisArg, args) as unknown;
    },
    get: (target, prop, receiver) => {
      if (prop === 'unsafe') {
        return (...args: unknown[]) => gated(() => (unsafe as (...a: unknown[]) => PendingQuery<never>)(...args), queryText(args));
      }
      if (prop === 'begin') {
        return async (...args: unknown[]) => {
          const waitStart = performance.now();
          const release = await options.gate.acquire().catch((error: unknown) => acquireFailed(options.metrics, error));
          const start = performance.now();
          options.metrics.waitTime((start - waitStart) / 1000);
          try {
            // A transaction is sent again only when it never reached the server: its body did
            // not run (no connection was ever handed to it).
            const window = new FailoverWindow(options.failoverWindowMs ?? DEFAULT_FAILOVER_WINDOW_MS);
            for (;;) {
              let bodyRan = false;
              // The body's work is done: postgres.js sends COMMIT next.
              let bodyDone = false;
              const watched = args.map((arg) =>
                typeof arg === 'function'
                  ? (...inner: unknown[]) => {
                      bodyRan = true;
                      const result = (arg as (...a: unknown[]) => unknown)(preparingTransaction(inner[0], options.prepare), ...inner.slice(1));
                      // As postgres.js does: an array of queries is awaited as a whole.
                      return (Array.isArray(result) ? Promise.all(result) : Promise.resolve(result)).then((value: unknown) => {
                        bodyDone = true;
                        return value;
                      });
                    }
                  : arg,
              );
              try {
                return await (target.begin as (...a: unknown[]) => Promise<unknown>)(...watched);
              } catch (error) {
                // The connection broke after COMMIT was sent: it may have committed. Broken in
                // the body, the transaction was rolled back (safe to run again as a whole).
                if (bodyDone && brokeInFlight(error) && !closedBeforeSent(error)) throw writeOutcomeUnknown(error, { operation: 'COMMIT', through: options.pooler });
                const named = (options.pooler && poolerConnectionError(error, options.pooler)) || error;
                if (bodyRan || !neverReachedServer(error)) throw named;
                const pause = window.next();
                if (pause === undefined) throw window.expired(named);
                await sleep(pause);
              }
            }
          } finally {
            options.metrics.useTime((performance.now() - start) / 1000);
            release();
          }
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}
