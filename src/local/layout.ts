import { join, resolve } from 'node:path';

/**
 * Where `jeex-db up` keeps a local cluster. Everything lives under one directory
 * (default `.jeex-db/` in the working directory, or `JEEX_DB_DATA_DIR`):
 *
 *   state.json    ports, database and role names (no secrets)
 *   secrets.json  generated passwords, mode 0600
 *   pgdata/       the PostgreSQL data directory
 *   log/          server.log
 *   pgbouncer/    pgbouncer.ini, userlist.txt (SCRAM verifiers, 0600), pid and log
 *   replication.json  what this cluster is in a primary/standby pair (`jeex-db standby`)
 *   keys/         data.key and blind-index.key (0600, directory 0700): the column cipher's keys,
 *                 outside pgdata/ and backups/ so no base backup or dump carries them
 *
 * This folder imports nothing of ours but `src/core/errors.ts` (and zod), so `drizzle.config.ts` can load it through drizzle-kit.
 */
export const DEFAULT_DATA_DIR = '.jeex-db';

/** The environment variable naming the local cluster's directory, for the library and the CLI alike. */
export const DATA_DIR_ENV = 'JEEX_DB_DATA_DIR';

/**
 * The local cluster's directory: `given` (an option, `--data-dir`), else `JEEX_DB_DATA_DIR`,
 * else `.jeex-db`. An empty value counts as unset. Every reader of the local cluster (createDb,
 * the migration target, health, drizzle.config.ts, `jeex-db up` and the other commands) comes
 * through here, so one variable moves them all.
 *
 * @example
 * resolveDataDir(undefined, { JEEX_DB_DATA_DIR: '/srv/db' }); // '/srv/db'
 * resolveDataDir('/tmp/x', { JEEX_DB_DATA_DIR: '/srv/db' }); // '/tmp/x'
 */
export function resolveDataDir(given?: string, env: NodeJS.ProcessEnv = process.env): string {
  return given || env[DATA_DIR_ENV] || DEFAULT_DATA_DIR;
}

export interface LocalLayout {
  root: string;
  stateFile: string;
  secretsFile: string;
  pgdata: string;
  logDir: string;
  serverLog: string;
  pgbouncerDir: string;
  keysDir: string;
  /** The local data key(s) of the column cipher, one per line, the current one first. */
  dataKeyFile: string;
  /** The local blind-index key(s), one per line, the current one first. */
  blindIndexKeyFile: string;
  /** What this cluster is in a primary/standby pair (`jeex-db standby`, `promote`); absent: a primary on its own. */
  replicationFile: string;
  /** The standby's password file for its replication connection (0600, owned by the server's OS user). */
  replicationPassFile: string;
}

/** The files of the local cluster in `dataDir` (default: see resolveDataDir), relative to `cwd`. */
export function localLayout(dataDir?: string, cwd: string = process.cwd()): LocalLayout {
  const root = resolve(cwd, resolveDataDir(dataDir));
  return {
    root,
    stateFile: join(root, 'state.json'),
    secretsFile: join(root, 'secrets.json'),
    pgdata: join(root, 'pgdata'),
    logDir: join(root, 'log'),
    serverLog: join(root, 'log', 'server.log'),
    pgbouncerDir: join(root, 'pgbouncer'),
    keysDir: join(root, 'keys'),
    dataKeyFile: join(root, 'keys', 'data.key'),
    blindIndexKeyFile: join(root, 'keys', 'blind-index.key'),
    replicationFile: join(root, 'replication.json'),
    replicationPassFile: join(root, 'replication.pgpass'),
  };
}
