import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import * as schema from '../schema/index.ts';
import { loadColumnCipher } from '../local/cipher-keys.ts';
import type { CipherKeys, ColumnCipher } from '../crypto/column-cipher.ts';
import { attachCipher, cipherOf } from '../crypto/db-cipher.ts';
import { localLayout, resolveDataDir } from '../local/layout.ts';
import { clientTarget, socketTls } from './client-tls.ts';
import { resolveDbConfig, type DbConfig, type DbConfigInput } from './config.ts';
import { trackConnections } from './connection-tracker.ts';
import { gateSql } from './gated-sql.ts';
import { PoolGate, type PoolState } from './pool-gate.ts';
import { OperationWindow, type OperationStats } from './operation-window.ts';
import { poolMetrics } from './pool-metrics.ts';
import { backoffDelay } from '../core/backoff.ts';

/** The Drizzle client over the jeex schema. Query functions take it as their first argument. */
export type Database = PostgresJsDatabase<typeof schema>;

export interface JeexDb {
  /** Drizzle, typed with the schema: `db.select().from(users)`, `db.query.projects.findMany()`. */
  db: Database;
  /**
   * The postgres.js client underneath (behind the same gate), for raw SQL and for ops code that
   * takes `sql`.
   */
  sql: Sql;
  /** The resolved configuration (URL with its password; mask it before printing). */
  config: DbConfig;
  /** The pool right now: connections in use and open, requests waiting, timeouts so far. */
  pool: () => PoolState & { open: number };
  /** Durations of the operations of the last minute (count, p50/p95/p99): the SLO in health checks. */
  operations: () => OperationStats;
  /** Close every connection; waits up to `timeoutSeconds` for running queries. */
  close: (timeoutSeconds?: number) => Promise<void>;
  /**
   * The column cipher the user queries use (keys resolved at the first call: see
   * `loadColumnCipher`); ENCRYPTION_KEY_MISSING when no key is configured.
   */
  cipher: () => ColumnCipher;
}

/** `createDb` options: the connection's (`DbConfigInput`) and the column cipher's keys. */
export interface CreateDbInput extends DbConfigInput {
  /**
   * Keys of the column cipher (users' email and name). Default: JEEX_DATA_KEY(S|_FILE) and
   * JEEX_BLIND_INDEX_KEY(S|_FILE), else, for the local cluster, `<data-dir>/keys/`.
   */
  keys?: CipherKeys;
}

/** The (first) host and port of a URL that goes through PgBouncer, as errors name it. */
function poolerAddress(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  const host = parsed.hostname.split(',')[0] ?? parsed.hostname;
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port || 5432) };
}

/** Seconds (postgres.js's unit) before reconnect attempt `retries` (1, 2, ...): 50 ms doubling, at most 1 s, jittered down to half. */
export function reconnectDelay(retries: number): number {
  return backoffDelay(retries - 1, { initialMs: 50, maxMs: 1000, spread: [0.5, 1] }) / 1000;
}

/**
 * Open a pooled client. Options override DATABASE_URL / PG* / JEEX_DB_* (see `resolveDbConfig`).
 *
 * Requests beyond `max` wait in a bounded queue for at most `acquireTimeout` ms, then fail with
 * POOL_TIMEOUT; queries are cancelled after `queryTimeout` ms (QUERY_TIMEOUT); a read whose
 * connection broke is retried once on a new one. Behind PgBouncer (`pooler: 'pgbouncer'`)
 * prepared statements are off unless PgBouncer supports them; statements then still take one
 * round trip each (see UnnamedStatements). Pool metrics go to
 * @opentelemetry/api under the semantic-convention names (`db.client.connection.*`,
 * `db.client.operation.duration`).
 *
 * @example
 * const { db, close } = createDb();
 * const user = await createUser(db, { email: 'ada@example.com', name: 'Ada' });
 * await close();
 */
export function createDb(input: CreateDbInput = {}, env: NodeJS.ProcessEnv = process.env): JeexDb {
  const { keys, ...connection } = input;
  const config = resolveDbConfig(connection, env);
  const namespace = decodeURIComponent(new URL(config.url).pathname.slice(1));
  const gate = new PoolGate(`${config.applicationName}@${namespace}`, config.max, config.maxQueue, config.acquireTimeout);
  // Each refers to the other only from callbacks that run later.
  // postgres.js looks up array types on each new connection; the tracker must know (see guardSocket).
  const fetchTypes = true;
  // sslmode, sslrootcert, ... as libpq reads them (see clientTarget).
  const target = clientTarget(config.url);
  const single = !new URL(config.url).host.includes(',');
  // TLS with a single host is negotiated by the tracker's socket, so the guard reads the
  // messages above the encryption; postgres.js then sees a plain socket.
  const ownTls = single ? socketTls(target) : undefined;
  const tls = ownTls ?? (target.ssl ? 'opaque' : false);
  // Without named statements on the server (PgBouncer before 1.21), postgres.js still prepares
  // and the guard's rewriter sends its statements unnamed: one round trip per statement instead
  // of a describe first (see UnnamedStatements). It needs the guard, i.e. our own socket.
  const unnamedStatements = !config.prepare && single && tls !== 'opaque';
  const tracker = trackConnections((seconds) => metrics.createTime(seconds), {
    tls,
    setupStatements: fetchTypes ? 1 : 0,
    connectTimeoutMs: config.connectTimeout * 1000,
    unnamedStatements,
  });
  const clientPrepares = config.prepare || unnamedStatements;
  const recorded = poolMetrics(gate, () => tracker.open());
  // The last minute's operation times, for `operations()` (the SLO in health checks).
  const recent = new OperationWindow();
  const metrics = {
    ...recorded,
    operation: (seconds: number, attributes: Parameters<typeof recorded.operation>[1]) => {
      recent.record(seconds * 1000);
      recorded.operation(seconds, attributes);
    },
  };
  const raw = postgres(target.url, {
    ...(target.hostaddr ? { host: target.hostaddr } : {}),
    ssl: ownTls ? false : target.ssl,
    max: config.max,
    idle_timeout: config.idleTimeout,
    connect_timeout: config.connectTimeout,
    max_lifetime: config.maxLifetime,
    prepare: clientPrepares,
    fetch_types: fetchTypes,
    connection: { application_name: config.applicationName },
    onnotice: () => {},
    // postgres.js waits (0.5-1) x 3^n / 100 s before connection attempt n after failures, up to
    // 20 s: after a restart under load the pool would sit idle for seconds. A second at most.
    backoff: reconnectDelay,
    // Multi-host URLs keep postgres.js's own connecting (failover across hosts).
    ...(single ? { socket: tracker.socket as never } : {}),
  });
  // Behind PgBouncer, a refused connection is PgBouncer not answering (errors say so).
  const pooler = config.pooler === 'pgbouncer' ? poolerAddress(config.url) : undefined;
  const sql = gateSql(raw, { gate, metrics, queryTimeoutMs: config.queryTimeout, namespace, prepare: clientPrepares, ...(pooler ? { pooler } : {}) });
  const db = drizzle(sql, { schema });
  // Resolved at the first user query, so a client that never reads users needs no key. The
  // local cluster's key files are used only for the local cluster, never for a DATABASE_URL.
  attachCipher(db, () => loadColumnCipher(env, { ...(keys ? { keys } : {}), ...(config.source === 'local' ? { local: localLayout(resolveDataDir(undefined, env)) } : {}) }));
  return {
    db,
    sql,
    config,
    pool: () => ({ ...gate.state(), open: tracker.open() }),
    operations: () => recent.stats(),
    cipher: () => cipherOf(db),
    close: async (timeoutSeconds = 5) => {
      gate.drain();
      metrics.close();
      await raw.end({ timeout: timeoutSeconds });
    },
  };
}
