import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import { localLayout, resolveDataDir } from '../local/layout.ts';
import { localUrl } from '../local/state.ts';
import { importTypeScript } from './load-typescript.ts';
import { defaultMigrationsDir } from './runner.ts';

export interface TargetInput {
  url?: string;
  migrationsDir?: string;
  /** drizzle.config.ts to read `out` and `dbCredentials.url` from; default ./drizzle.config.ts when present. */
  config?: string;
  /** The local cluster to fall back to (default: JEEX_DB_DATA_DIR, else .jeex-db; see resolveDataDir). */
  dataDir?: string;
}

export interface MigrationTarget {
  url?: string;
  urlSource?: '--url' | 'DATABASE_URL' | 'drizzle.config.ts' | 'local cluster';
  migrationsDir: string;
  dirSource: '--migrations-dir' | 'drizzle.config.ts' | 'package';
  /** The Drizzle schema module of drizzle.config.ts (`schema`), for `check`; else the package's. */
  schemaModule?: string;
  /** The local cluster's superuser, when the target is the local cluster: it may create reference databases (drift checks). */
  superuserUrl?: string;
}

interface DrizzleConfig {
  out?: string;
  schema?: string | string[];
  dbCredentials?: { url?: string };
}

/** Load drizzle.config.ts the way drizzle-kit does (through tsx). */
async function loadDrizzleConfig(file: string): Promise<DrizzleConfig> {
  const module = (await importTypeScript(file, 'the drizzle-kit config')) as { default?: DrizzleConfig | { default?: DrizzleConfig } };
  // tsx may wrap a CommonJS-transpiled default export once more.
  const config = module.default;
  const unwrapped = config && 'default' in config ? config.default : (config as DrizzleConfig | undefined);
  return unwrapped ?? {};
}

/**
 * Where the migrations are and which database to migrate: flags, then DATABASE_URL, then
 * drizzle.config.ts (`dbCredentials.url`, `out`), then the local cluster of `jeex-db up` (in
 * `dataDir`, else JEEX_DB_DATA_DIR, else .jeex-db), and for the folder the package's own `drizzle/`.
 */
export async function resolveMigrationTarget(input: TargetInput, env: NodeJS.ProcessEnv = process.env): Promise<MigrationTarget> {
  const configFile = input.config ? resolve(input.config) : resolve('drizzle.config.ts');
  if (input.config && !existsSync(configFile)) {
    throw new JeexDbError('INVALID_CONFIG', `--config ${input.config}: no such file`, { hint: 'Pass the path of your drizzle.config.ts.' });
  }
  const config = existsSync(configFile) ? await loadDrizzleConfig(configFile) : {};

  const target: MigrationTarget = { migrationsDir: defaultMigrationsDir, dirSource: 'package' };
  if (input.migrationsDir) [target.migrationsDir, target.dirSource] = [resolve(input.migrationsDir), '--migrations-dir'];
  else if (config.out) [target.migrationsDir, target.dirSource] = [resolve(dirname(configFile), config.out), 'drizzle.config.ts'];

  const schema = Array.isArray(config.schema) ? config.schema[0] : config.schema;
  if (schema && !/[*?{]/.test(schema)) target.schemaModule = resolve(dirname(configFile), schema);

  const local = localUrl(localLayout(resolveDataDir(input.dataDir, env)), 'migrator');
  if (input.url) [target.url, target.urlSource] = [input.url, '--url'];
  else if (env.DATABASE_URL) [target.url, target.urlSource] = [env.DATABASE_URL, 'DATABASE_URL'];
  else if (config.dbCredentials?.url) [target.url, target.urlSource] = [config.dbCredentials.url, 'drizzle.config.ts'];
  else if (local) [target.url, target.urlSource] = [local, 'local cluster'];
  if (target.urlSource === 'local cluster') {
    const superuser = localUrl(localLayout(resolveDataDir(input.dataDir, env)), 'superuser');
    if (superuser) target.superuserUrl = superuser;
  }
  return target;
}

/** The URL, or an error saying how to give one. */
export function requireUrl(target: MigrationTarget): string {
  if (target.url) return target.url;
  throw new JeexDbError('INVALID_CONFIG', 'no database to migrate: no --url, no DATABASE_URL, no dbCredentials.url in drizzle.config.ts, and no local cluster', {
    hint: 'Pass --url postgres://..., set DATABASE_URL, or start the local cluster with `jeex-db up`.',
  });
}
