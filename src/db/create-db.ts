import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import * as schema from '../schema/index.ts';
import { loadColumnCipher } from '../local/cipher-keys.ts';
import type { CipherKeys, ColumnCipher } from '../crypto/column-cipher.ts';
import { attachCipher, cipherOf } from '../crypto/db-cipher.ts';
import { localLayout, resolveDataDir } from '../local/layout.ts';
import { clientTarget, postgresJsArgs, socketTls, tlsFor } from './client-tls.ts';
import { HostList } from './host-list.ts';
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
  /**
   * Where reads that opt in go: a pool on JEEX_DB_READ_URL (the option readUrl), typically the
   * readonly role on the standbys, else the primary's `db` and `sql` themselves (`replica`
   * false). A replica replays the primary's WAL asynchronously, so what it returns may lag
   * behind (milliseconds usually; seconds or more under load or when a standby falls behind):
   * read your own writes from `db`, not `read.db`. A replica refuses writes (read-only
   * transaction); the readonly role refuses them anywhere.
   *
   * @example
   * const recent = await listProjects(jeex.read.db, { limit: 50 });
   */
  read: { db: Database; sql: Sql; replica: boolean; pool: () => PoolState & { open: number } };
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
function poolerAddress(target: ReturnType<typeof clientTarget>): { host: string; port: number } {
  const first = target.hosts[0];
  return { host: first?.host ?? 'localhost', port: first?.port ?? 5432 };
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
  const primary = openPool(config, config.url, '', env);
  const replica = config.readUrl ? openPool(config, config.readUrl, ' (read)', env) : undefined;
  // Resolved at the first user query, so a client that never reads users needs no key. The
  // local cluster's key files are used only for the local cluster, never for a DATABASE_URL.
  attachCipher(primary.db, () => loadColumnCipher(env, { ...(keys ? { keys } : {}), ...(config.source === 'local' ? { local: localLayout(resolveDataDir(undefined, env)) } : {}) }));
  if (replica) attachCipher(replica.db, () => cipherOf(primary.db));
  return {
    db: primary.db,
    sql: primary.sql,
    config,
    read: replica ? { db: replica.db, sql: replica.sql, replica: true, pool: replica.pool } : { db: primary.db, sql: primary.sql, replica: false, pool: primary.pool },
    pool: primary.pool,
    operations: () => primary.recent.stats(),
    cipher: () => cipherOf(primary.db),
    close: async (timeoutSeconds = 5) => {
      await Promise.all([primary.close(timeoutSeconds), replica?.close(timeoutSeconds)]);
    },
  };
}

/** One gated postgres.js pool with its Drizzle client: the primary's, or the replicas' (`label`). */
function openPool(config: DbConfig, url: string, label: string, env: NodeJS.ProcessEnv) {
  // sslmode, sslrootcert, target_session_attrs, the hosts ... as libpq reads them (see clientTarget).
  const target = clientTarget(url, env);
  const namespace = target.connection.database ?? '';
  const gate = new PoolGate(`${config.applicationName}@${namespace}${label}`, config.max, config.maxQueue, config.acquireTimeout);
  // Each refers to the other only from callbacks that run later.
  // postgres.js looks up array types on each new connection; the tracker must know (see guardSocket).
  const fetchTypes = true;
  // Several hosts: tried in order by HostList, each with TLS checked against its own name.
  const hosts = target.hosts.length > 1 ? new HostList(target.hosts, { tls: (address) => tlsFor(target, address), connectTimeoutMs: config.connectTimeout * 1000 }) : undefined;
  // TLS is negotiated by the tracker's socket, so the guard reads the messages above the
  // encryption; postgres.js then sees a plain socket.
  const ownTls = hosts ? undefined : socketTls(target);
  // Without named statements on the server (PgBouncer before 1.21), postgres.js still prepares
  // and the guard's rewriter sends its statements unnamed: one round trip per statement instead
  // of a describe first (see UnnamedStatements).
  const unnamedStatements = !config.prepare;
  const tracker = trackConnections((seconds) => metrics.createTime(seconds), {
    tls: ownTls ?? false,
    setupStatements: fetchTypes ? 1 : 0,
    connectTimeoutMs: config.connectTimeout * 1000,
    unnamedStatements,
    ...(hosts ? { hosts } : {}),
    sessionAttrs: target.sessionAttrs,
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
  const args = postgresJsArgs(target, { ownSocket: true });
  const raw = postgres(args.url, {
    ...args.options,
    ssl: false,
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
    socket: tracker.socket,
    // postgres.js types `host`/`port` as one value; it takes arrays too (its multi-host form).
  } as unknown as postgres.Options<Record<string, never>>);
  // Behind PgBouncer, a refused connection is PgBouncer not answering (errors say so).
  const pooler = config.pooler === 'pgbouncer' ? poolerAddress(target) : undefined;
  const sql = gateSql(raw, { gate, metrics, queryTimeoutMs: config.queryTimeout, namespace, prepare: clientPrepares, failoverWindowMs: config.failoverWindow, ...(pooler ? { pooler } : {}) });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    recent,
    pool: () => ({ ...gate.state(), open: tracker.open() }),
    close: async (timeoutSeconds: number) => {
      gate.drain();
      metrics.close();
      await raw.end({ timeout: timeoutSeconds });
    },
  };
}
