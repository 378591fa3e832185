import type { Sql, TransactionSql } from 'postgres';

type Tx = Sql | TransactionSql;

/**
 * Which sessions and statistics the per-database checks look at: the database `sql` is
 * connected to (default), or every database of the server. Connections, wraparound, replication
 * and WAL archiving are always server-wide.
 */
export type HealthScope = 'database' | 'server';

/** What the first query learns about the server, proving it answers. */
export interface ServerFacts {
  database: string;
  inRecovery: boolean;
  maxConnections: number;
  archiveMode: string;
  serverVersion: string;
  /**
   * The role sees other sessions' state, query and times in pg_stat_activity (a member of
   * pg_read_all_stats, which pg_monitor includes, or a superuser); without it those columns are
   * NULL and the session checks report themselves unavailable rather than pass.
   */
  readAllStats: boolean;
}

export async function serverFacts(sql: Sql): Promise<ServerFacts> {
  const [row] = await sql<{ database: string; in_recovery: boolean; max_connections: number; archive_mode: string; server_version: string; read_all_stats: boolean }[]>`
    SELECT current_database() AS database, pg_is_in_recovery() AS in_recovery,
           current_setting('max_connections')::int AS max_connections,
           current_setting('archive_mode') AS archive_mode,
           current_setting('server_version') AS server_version,
           pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats`;
  if (!row) throw new Error('the server returned no row for SELECT current_database()');
  return {
    database: row.database,
    inRecovery: row.in_recovery,
    maxConnections: row.max_connections,
    archiveMode: row.archive_mode,
    serverVersion: row.server_version,
    readAllStats: row.read_all_stats,
  };
}

/** Client backends on the server (every role sees every row of pg_stat_activity). */
export async function clientConnections(tx: Tx): Promise<number> {
  const [row] = await tx<{ used: number }[]>`SELECT count(*)::int AS used FROM pg_stat_activity WHERE backend_type = 'client backend'`;
  return row?.used ?? 0;
}

export interface SessionRow {
  pid: number;
  database: string | null;
  user: string | null;
  applicationName: string | null;
  state: string | null;
  ageSeconds: number;
}

interface RawSession {
  pid: number;
  datname: string | null;
  usename: string | null;
  application_name: string | null;
  state: string | null;
  age_s: number;
}

const session = (row: RawSession): SessionRow => ({
  pid: row.pid,
  database: row.datname,
  user: row.usename,
  applicationName: row.application_name,
  state: row.state,
  ageSeconds: row.age_s,
});

/** The oldest open transaction of another session (idle in transaction included), if any. */
export async function oldestTransaction(tx: Tx, scope: HealthScope): Promise<SessionRow | undefined> {
  const [row] = await tx<RawSession[]>`
    SELECT pid, datname, usename, application_name, state,
           extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age_s
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
      AND (${scope === 'server'} OR datname = current_database())
    ORDER BY xact_start LIMIT 1`;
  return row ? session(row) : undefined;
}

/** Sessions idle in transaction, and the one idle longest (age: since its last statement ended). */
export async function idleInTransaction(tx: Tx, scope: HealthScope): Promise<{ count: number; longest?: SessionRow }> {
  const rows = await tx<(RawSession & { count: number })[]>`
    SELECT pid, datname, usename, application_name, state,
           extract(epoch FROM clock_timestamp() - state_change)::float8 AS age_s,
           (count(*) OVER ())::int AS count
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND state IN ('idle in transaction', 'idle in transaction (aborted)')
      AND (${scope === 'server'} OR datname = current_database())
    ORDER BY state_change LIMIT 1`;
  const [row] = rows;
  return row ? { count: row.count, longest: session(row) } : { count: 0 };
}

/** Blocks found in shared buffers vs read from the OS since the statistics were reset. */
export async function blockStats(tx: Tx, scope: HealthScope): Promise<{ hit: number; read: number; statsReset: Date | null }> {
  const [row] = await tx<{ hit: number; read: number; stats_reset: Date | null }[]>`
    SELECT coalesce(sum(blks_hit), 0)::float8 AS hit, coalesce(sum(blks_read), 0)::float8 AS read, min(stats_reset) AS stats_reset
    FROM pg_stat_database
    WHERE ${scope === 'server'} OR datname = current_database()`;
  return { hit: row?.hit ?? 0, read: row?.read ?? 0, statsReset: row?.stats_reset ?? null };
}

/** The database closest to transaction ID wraparound (it stops the whole server). */
export async function oldestFrozenXid(tx: Tx): Promise<{ database: string; age: number }> {
  const [row] = await tx<{ datname: string; age: number }[]>`
    SELECT datname, age(datfrozenxid)::float8 AS age FROM pg_database ORDER BY age(datfrozenxid) DESC LIMIT 1`;
  return { database: row?.datname ?? '', age: row?.age ?? 0 };
}

export async function databaseSize(tx: Tx): Promise<number> {
  const [row] = await tx<{ bytes: number }[]>`SELECT pg_database_size(current_database())::float8 AS bytes`;
  return row?.bytes ?? 0;
}

/** The schema pg_stat_statements is installed in (in this database), or undefined. */
export async function statStatementsSchema(tx: Tx): Promise<string | undefined> {
  const [row] = await tx<{ schema: string }[]>`
    SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'pg_stat_statements'`;
  return row?.schema;
}
