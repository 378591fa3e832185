import { z } from 'zod';
import { localLayout } from '../local/layout.ts';
import { localUrl } from '../local/state.ts';
import { JeexDbError } from './errors.ts';
import { maskUrl } from './url.ts';

/** Options a caller may pass to `createDb()`; each overrides its environment variable. */
export interface DbConfigInput {
  /** postgres:// URL. Env: DATABASE_URL, else libpq PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE. */
  url?: string;
  /** Most connections the pool opens. Env: JEEX_DB_POOL_MAX. Default 10. */
  max?: number;
  /** Seconds an idle connection is kept. Env: JEEX_DB_IDLE_TIMEOUT. Default 300 (under the server's 15 min). */
  idleTimeout?: number;
  /** Seconds to wait for a connection. Env: JEEX_DB_CONNECT_TIMEOUT. Default 10. */
  connectTimeout?: number;
  /** Seconds before a connection is replaced. Env: JEEX_DB_MAX_LIFETIME. Default 1800. */
  maxLifetime?: number;
  /** Shown in pg_stat_activity. Env: PGAPPNAME. Default `jeex-db`. */
  applicationName?: string;
  /** Use named prepared statements (off behind PgBouncer < 1.21). Env: JEEX_DB_PREPARE. Default true. */
  prepare?: boolean;
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
}

const wholeNumber = (min: number, max: number) => ({
  schema: z.coerce.number().int().min(min).max(max),
  range: `a whole number from ${min} to ${max}`,
});
const fields = {
  max: { env: 'JEEX_DB_POOL_MAX', ...wholeNumber(1, 1000), fallback: 10 },
  idleTimeout: { env: 'JEEX_DB_IDLE_TIMEOUT', ...wholeNumber(0, 86_400), fallback: 300 },
  connectTimeout: { env: 'JEEX_DB_CONNECT_TIMEOUT', ...wholeNumber(1, 600), fallback: 10 },
  maxLifetime: { env: 'JEEX_DB_MAX_LIFETIME', ...wholeNumber(0, 86_400), fallback: 1800 },
} as const;

const booleanText = z.enum(['true', 'false', '1', '0', 'on', 'off']).transform((v) => ['true', '1', 'on'].includes(v));

function urlFromLibpq(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.PGHOST && !env.PGUSER && !env.PGDATABASE && !env.PGPORT) return undefined;
  const url = new URL('postgres://localhost');
  url.hostname = env.PGHOST ?? 'localhost';
  url.port = env.PGPORT ?? '5432';
  url.username = env.PGUSER ?? 'postgres';
  if (env.PGPASSWORD) url.password = env.PGPASSWORD;
  url.pathname = `/${env.PGDATABASE ?? url.username}`;
  if (env.PGSSLMODE) url.searchParams.set('sslmode', env.PGSSLMODE);
  return url.toString();
}

function checkUrl(url: string, from: string, problems: string[]): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`${from} is not a URL (${maskUrl(url)}); expected postgres://user:password@host:5432/database`);
    return;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    problems.push(`${from} must start with postgres:// or postgresql://, not ${parsed.protocol}//`);
  }
  if (!parsed.hostname) problems.push(`${from} has no host; expected postgres://user:password@host:5432/database`);
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
  else if ((url = urlFromLibpq(env))) source = 'PG*';
  else if ((url = localUrl(localLayout(env.JEEX_DB_DATA_DIR), 'app'))) source = 'local';

  if (url === undefined) {
    problems.push(
      'no database configured: set DATABASE_URL (postgres://user:password@host:5432/database), ' +
        'or start a local one with `npx jeex-db up`',
    );
  } else {
    checkUrl(url, source === 'option' ? 'option url' : source === 'PG*' ? 'the PG* variables' : source, problems);
  }

  const numbers = {} as Record<keyof typeof fields, number>;
  for (const [key, field] of Object.entries(fields) as [keyof typeof fields, (typeof fields)[keyof typeof fields]][]) {
    const given = input[key];
    const raw = given ?? env[field.env];
    if (raw === undefined || raw === '') {
      numbers[key] = field.fallback;
      continue;
    }
    const parsed = field.schema.safeParse(raw);
    if (parsed.success) numbers[key] = parsed.data;
    else {
      const where = given !== undefined ? `option ${key}` : field.env;
      problems.push(`${where} must be ${field.range}, got ${JSON.stringify(raw)}`);
    }
  }

  let prepare = input.prepare ?? true;
  if (input.prepare === undefined && env.JEEX_DB_PREPARE !== undefined) {
    const parsed = booleanText.safeParse(env.JEEX_DB_PREPARE.toLowerCase());
    if (parsed.success) prepare = parsed.data;
    else problems.push(`JEEX_DB_PREPARE must be true or false, got ${JSON.stringify(env.JEEX_DB_PREPARE)}`);
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
  };
}

