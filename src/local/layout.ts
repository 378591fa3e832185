import { join, resolve } from 'node:path';

/**
 * Where `jeex-db up` keeps a local cluster. Everything lives under one directory
 * (default `.jeex-db/` in the working directory):
 *
 *   state.json    ports, database and role names (no secrets)
 *   secrets.json  generated passwords, mode 0600
 *   pgdata/       the PostgreSQL data directory
 *   log/          server.log
 *   pgbouncer/    pgbouncer.ini, userlist.txt (SCRAM verifiers, 0600), pid and log
 *   keys/         data.key and blind-index.key (0600, directory 0700): the column cipher's keys,
 *                 outside pgdata/ and backups/ so no base backup or dump carries them
 *
 * This folder imports nothing of ours but `src/core/errors.ts` (and zod), so `drizzle.config.ts` can load it through drizzle-kit.
 */
export const DEFAULT_DATA_DIR = '.jeex-db';

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
}

export function localLayout(dataDir: string = DEFAULT_DATA_DIR, cwd: string = process.cwd()): LocalLayout {
  const root = resolve(cwd, dataDir);
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
  };
}
