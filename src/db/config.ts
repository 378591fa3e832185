import { z } from 'zod';
import { localLayout, resolveDataDir } from '../local/layout.ts';
import { localUrl, readLocalState } from '../local/state.ts';
import { JeexDbError } from '../core/errors.ts';
import { DURATION_UNITS, formatDuration, invalidBoolean, parseBoolean, parseDuration } from '../core/units.ts';
import { ConnStringError, formatConnString, pairHosts, parseConnString, withDefaultParams } from './conn-string.ts';
import { DEFAULT_FAILOVER_WINDOW_MS } from './failover-window.ts';

/** Options a caller may pass to `createDb()`; each overrides its environment variable. */
export interface DbConfigInput {
  /**
   * postgres:// URL, with one host or several (`postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=primary`),
   * or libpq's key=value form (`host=h1,h2 port=5432,5433 dbname=db user=u`). Env: DATABASE_URL,
   * else libpq PGHOST/PGPORT (lists too)/PGUSER/PGPASSWORD/PGDATABASE. TLS as libpq reads it:
   * `sslmode`/`sslrootcert` in the URL, else PGSSLMODE/PGSSLROOTCERT. `target_session_attrs`
   * (else PGTARGETSESSIONATTRS) as libpq means it: see docs/pooling.md#clients-across-a-failover.
   */
  url?: string;
  /**
   * Replicas for reads that opt in (`createDb(...).read`), typically the readonly role on the
   * standbys: `postgres://jeex_readonly:...@standby1,standby2,primary/jeex?target_session_attrs=prefer-standby`.
   * Env: JEEX_DB_READ_URL. Unset: reads go to `url`.
   */
  readUrl?: string;
  /**
   * Milliseconds a statement that never reached a server (refused, starting up, shutting down, a
   * standby where the primary is wanted) is sent again for: the failover window. Env:
   * JEEX_DB_FAILOVER_WINDOW (`2550`, `30s`). Default 2550: a restart; 30 s rides out a promotion.
   */
  failoverWindow?: number;
  /** Most connections the pool opens. Env: JEEX_DB_POOL_MAX. Default 10. */
  max?: number;
  /** Seconds an idle connection is kept. Env: JEEX_DB_IDLE_TIMEOUT (`300`, `5min`). Default 300 (under the server's 15 min). */
  idleTimeout?: number;
  /** Seconds to wait for a connection. Env: JEEX_DB_CONNECT_TIMEOUT (`10`, `10s`). Default 10. */
  connectTimeout?: number;
  /** Seconds before a connection is replaced. Env: JEEX_DB_MAX_LIFETIME (`1800`, `30min`). Default 1800. */
  maxLifetime?: number;
  /** Shown in pg_stat_activity. Env: PGAPPNAME. Default `jeex-db`. */
  applicationName?: string;
  /** Use named prepared statements. Env: JEEX_DB_PREPARE (true/false, 1/0, yes/no, on/off). Default: true, false behind PgBouncer < 1.21. */
  prepare?: boolean;
  /** What `url` points at: `pgbouncer` (transaction pooling) or `none`. Env: JEEX_DB_POOLER. */
  pooler?: 'pgbouncer' | 'none';
  /** A direct URL to PostgreSQL for work that needs a session behind a pooler. Env: JEEX_DB_DIRECT_URL. */
  directUrl?: string;
  /** Requests that may wait for a connection at once; more fail at once with POOL_TIMEOUT. Env: JEEX_DB_POOL_QUEUE. Default 1000. */
  maxQueue?: number;
  /** Milliseconds a request may wait for a connection. Env: JEEX_DB_ACQUIRE_TIMEOUT (`5000`, `5s`). Default 5000. */
  acquireTimeout?: number;
  /** Milliseconds before the client gives up on a query (a half-open socket). Env: JEEX_DB_QUERY_TIMEOUT (`60000`, `1min`). Default 60000. */
  queryTimeout?: number;
}

export interface DbConfig {
  url: string;
  /** Where the URL came from, for messages: `option`, `DATABASE_URL`, `PG*` or `local`. */
  source: 'option' | 'DATABASE_URL' | 'PG*' | 'local';
  max: number;
  idleTimeout: number;
  connectTimeout: number;
  maxLifetime: number;
  applicationName: string;
  prepare: boolean;
  pooler: 'pgbouncer' | 'none';
  directUrl?: string;
  /** JEEX_DB_READ_URL (or the option readUrl): where `read` queries go; unset, the primary's `url`. */
  readUrl?: string;
  maxQueue: number;
  acquireTimeout: number;
  queryTimeout: number;
  failoverWindow: number;
}

interface NumberField {
  env: string;
  fallback: number;
  /** What a valid value is, for the message. */
  range: string;
  /** The value, or undefined when it is not valid. Strings come from the environment. */
  read: (raw: string | number) => number | undefined;
}

const wholeNumber = (min: number, max: number) => {
  const schema = z.coerce.number().int().min(min).max(max);
  return { range: `a whole number from ${min} to ${max}`, read: (raw: string | number) => schema.safeParse(raw).data };
};

/**
 * A duration in `unit` (its value in code, and a plain number in the environment); the
 * environment may also give any duration of core/units.ts (`5min`, `1500ms`).
 */
const duration = (unit: 's' | 'ms', min: number, max: number) => {
  const inRange = (value: number) => (Number.isFinite(value) && value >= min && value <= max ? value : undefined);
  return {
    range: `a duration from ${formatDuration(min * DURATION_UNITS[unit])} to ${formatDuration(max * DURATION_UNITS[unit])} (a plain number is ${unit === 's' ? 'seconds' : 'milliseconds'})`,
    read: (raw: string | number) => {
      if (typeof raw === 'number') return unit === 'ms' && !Number.isInteger(raw) ? undefined : inRange(raw);
      const ms = parseDuration(raw, { defaultUnit: unit });
      return ms === undefined ? undefined : inRange(ms / DURATION_UNITS[unit]);
    },
  };
};

const fields: Record<'max' | 'idleTimeout' | 'connectTimeout' | 'maxLifetime' | 'maxQueue' | 'acquireTimeout' | 'queryTimeout' | 'failoverWindow', NumberField> = {
  max: { env: 'JEEX_DB_POOL_MAX', ...wholeNumber(1, 1000), fallback: 10 },
  idleTimeout: { env: 'JEEX_DB_IDLE_TIMEOUT', ...duration('s', 0, 86_400), fallback: 300 },
  connectTimeout: { env: 'JEEX_DB_CONNECT_TIMEOUT', ...duration('s', 1, 600), fallback: 10 },
  maxLifetime: { env: 'JEEX_DB_MAX_LIFETIME', ...duration('s', 0, 86_400), fallback: 1800 },
  maxQueue: { env: 'JEEX_DB_POOL_QUEUE', ...wholeNumber(0, 1_000_000), fallback: 1000 },
  acquireTimeout: { env: 'JEEX_DB_ACQUIRE_TIMEOUT', ...duration('ms', 1, 3_600_000), fallback: 5000 },
  queryTimeout: { env: 'JEEX_DB_QUERY_TIMEOUT', ...duration('ms', 1, 86_400_000), fallback: 60_000 },
  failoverWindow: { env: 'JEEX_DB_FAILOVER_WINDOW', ...duration('ms', 0, 3_600_000), fallback: DEFAULT_FAILOVER_WINDOW_MS },
};

/** A URL from libpq's PG* variables; PGHOST and PGPORT may be lists (`h1,h2`, `5432,5433`). */
function urlFromLibpq(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  if (!env.PGHOST && !env.PGUSER && !env.PGDATABASE && !env.PGPORT) return undefined;
  const user = env.PGUSER ?? 'postgres';
  try {
    const hosts = pairHosts((env.PGHOST ?? 'localhost').split(','), (env.PGPORT ?? '5432').split(','), undefined, ' (PGHOST, PGPORT)');
    return formatConnString({ form: 'url', hosts, user, ...(env.PGPASSWORD ? { password: env.PGPASSWORD } : {}), database: env.PGDATABASE ?? user, params: [] });
  } catch (error) {
    if (!(error instanceof ConnStringError)) throw error;
    problems.push(`the PG* variables: ${error.reason.replace(/^has /, 'give ')}`);
    return undefined;
  }
}

/**
 * libpq's PGSSLMODE and PGSSLROOTCERT, for a URL that does not say (libpq takes them as defaults
 * for any connection string). The local cluster's URLs always say.
 */
function withLibpqTls(url: string, env: NodeJS.ProcessEnv): string {
  if (!env.PGSSLMODE && !env.PGSSLROOTCERT) return url;
  try {
    return withDefaultParams(url, { sslmode: env.PGSSLMODE, sslrootcert: env.PGSSLROOTCERT });
  } catch {
    return url;
  }
}

/**
 * The connection string as the rest of the package takes it: a URL as given (one host or
 * several), libpq's key=value form turned into one. Problems go to `problems`, naming `from`.
 */
function checkUrl(url: string, from: string, problems: string[]): string {
  try {
    const parsed = parseConnString(url);
    if (parsed.hosts.length === 0) problems.push(`${from} has no host; expected postgres://user:password@host:5432/database`);
    return parsed.form === 'keywords' ? formatConnString(parsed) : url;
  } catch (error) {
    if (!(error instanceof ConnStringError)) throw error;
    problems.push(`${from} ${error.reason}`);
    return url;
  }
}

/**
 * Resolve the database configuration once: options > environment (DATABASE_URL, then libpq
 * PG* variables, then JEEX_DB_*) > the local cluster from `jeex-db up` > defaults. Every
 * problem is reported at once, naming the option or variable to fix.
 *
 * @example
 * const config = resolveDbConfig({ max: 5 }); // DATABASE_URL from the environment
 */
export function resolveDbConfig(input: DbConfigInput = {}, env: NodeJS.ProcessEnv = process.env): DbConfig {
  const problems: string[] = [];

  let url: string | undefined;
  let source: DbConfig['source'] = 'option';
  if (input.url !== undefined) url = input.url;
  else if (env.DATABASE_URL) [url, source] = [env.DATABASE_URL, 'DATABASE_URL'];
  else if ((url = urlFromLibpq(env, problems))) source = 'PG*';
  else if ((url = localUrl(localLayout(resolveDataDir(undefined, env)), 'app'))) source = 'local';

  if (url !== undefined && source !== 'local') url = withLibpqTls(url, env);
  if (url === undefined) {
    if (problems.length === 0) problems.push(
      'no database configured: set DATABASE_URL (postgres://user:password@host:5432/database), ' +
        'or start a local one with `npx jeex-db up`',
    );
  } else {
    url = checkUrl(url, source === 'option' ? 'option url' : source === 'PG*' ? 'the PG* variables' : source, problems);
  }

  const numbers = {} as Record<keyof typeof fields, number>;
  for (const [key, field] of Object.entries(fields) as [keyof typeof fields, NumberField][]) {
    const given = input[key];
    const raw = given ?? env[field.env];
    if (raw === undefined || raw === '') {
      numbers[key] = field.fallback;
      continue;
    }
    const value = field.read(raw);
    if (value !== undefined) numbers[key] = value;
    else {
      const where = given !== undefined ? `option ${key}` : field.env;
      problems.push(`${where} must be ${field.range}, got ${JSON.stringify(raw)}`);
    }
  }

  // Behind PgBouncer in transaction mode, named prepared statements break unless it is 1.21+
  // with max_prepared_statements; the local cluster's state knows which PgBouncer it runs.
  const local = source === 'local' ? readLocalState(localLayout(resolveDataDir(undefined, env))) : undefined;
  let pooler: DbConfig['pooler'] = input.pooler ?? (local?.pooler ? 'pgbouncer' : 'none');
  if (input.pooler === undefined && env.JEEX_DB_POOLER) {
    if (env.JEEX_DB_POOLER === 'pgbouncer' || env.JEEX_DB_POOLER === 'none') pooler = env.JEEX_DB_POOLER;
    else problems.push(`JEEX_DB_POOLER must be pgbouncer or none, got ${JSON.stringify(env.JEEX_DB_POOLER)}`);
  }
  const givenDirect = input.directUrl ?? env.JEEX_DB_DIRECT_URL;
  let directUrl = givenDirect
    ? withLibpqTls(givenDirect, env)
    : source === 'local'
      ? localUrl(localLayout(resolveDataDir(undefined, env)), 'app', { direct: true })
      : undefined;
  if (directUrl) directUrl = checkUrl(directUrl, input.directUrl ? 'option directUrl' : env.JEEX_DB_DIRECT_URL ? 'JEEX_DB_DIRECT_URL' : 'the local direct URL', problems);
  const givenRead = input.readUrl ?? env.JEEX_DB_READ_URL;
  const readUrl = givenRead ? checkUrl(withLibpqTls(givenRead, env), input.readUrl ? 'option readUrl' : 'JEEX_DB_READ_URL', problems) : undefined;

  let prepare = input.prepare ?? (pooler === 'pgbouncer' ? Boolean(local?.pooler?.preparedStatements) : true);
  if (input.prepare === undefined && env.JEEX_DB_PREPARE !== undefined) {
    const parsed = parseBoolean(env.JEEX_DB_PREPARE);
    if (parsed !== undefined) prepare = parsed;
    else problems.push(invalidBoolean('JEEX_DB_PREPARE', env.JEEX_DB_PREPARE));
  }

  if (problems.length > 0 || url === undefined) {
    throw new JeexDbError('INVALID_CONFIG', `invalid database configuration:\n  - ${problems.join('\n  - ')}`, {
      hint: 'Fix the options or environment variables named above.',
      context: { problems },
    });
  }
  return {
    url,
    source,
    ...numbers,
    applicationName: input.applicationName ?? env.PGAPPNAME ?? 'jeex-db',
    prepare,
    pooler,
    ...(directUrl ? { directUrl } : {}),
    ...(readUrl ? { readUrl } : {}),
  };
}


/**
 * The one place that decides which URL work goes to. Queries and transactions take `url` (through
 * PgBouncer when there is one). Work that needs a session — LISTEN/NOTIFY, session advisory
 * locks, session SET, migrations — takes a direct connection, because transaction pooling hands
 * each transaction a different server connection.
 *
 * @example
 * const listener = postgres(urlFor(config, 'session')); await listener.listen('events', ...);
 */
export function urlFor(config: DbConfig, purpose: 'queries' | 'session'): string {
  if (purpose === 'queries' || config.pooler === 'none') return config.url;
  if (config.directUrl) return config.directUrl;
  throw new JeexDbError('INVALID_CONFIG', 'this work needs a session (LISTEN, session locks, migrations), and the URL points at PgBouncer in transaction mode', {
    hint: 'Set JEEX_DB_DIRECT_URL (or the option directUrl) to a URL that reaches PostgreSQL directly.',
  });
}
