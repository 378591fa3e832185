import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../db/connect.ts';
import { JeexDbError } from '../../core/errors.ts';
import { translateDbError } from '../../db/translate-error.ts';
import type { RunAs } from '../../platform/exec.ts';
import { isPortFree } from '../../platform/port.ts';
import { authEntries } from './auth.ts';
import { pgbouncerAbsent, searchPgbouncer, supportsPreparedStatements, type PgbouncerBinary } from './binary.ts';
import { renderAuthFile, renderPgbouncerIni, type PoolerTls } from './ini.ts';
import { withPoolerLock } from './lock.ts';
import { poolerFiles, poolerPid, reloadPooler, startPooler, stopPooler, type PoolerFiles } from './process.ts';
import { derivePoolerSettings } from './settings.ts';

/** A local PgBouncer listens 1000 above its server (5418 -> 6418), so clusters do not collide. */
export const POOLER_PORT_OFFSET = 1000;

export interface PoolerOptions {
  /** Where pgbouncer.ini, userlist.txt, the pid and the log go (created, owned by `as`). */
  dir: string;
  as: RunAs | undefined;
  host: string;
  server: { port: number };
  /** A superuser connection to the cluster (reads max_connections and the roles' verifiers). */
  admin: Sql;
  /** Roles whose logins go through PgBouncer. */
  roles: string[];
  console: { user: string; password: string };
  cpus: number;
  /** pgbouncer.ini settings to use instead of the derived ones (see `derivePoolerSettings`). */
  overrides?: Record<string, string>;
  /** The port this PgBouncer used before (kept, so URLs do not change). */
  previousPort?: number;
  /** TLS to clients and to the server (the cluster's certificate files); absent: plain TCP. */
  tls?: PoolerTls;
  /** The certificate files changed (renewed): reload even when pgbouncer.ini did not. */
  reloadTls?: boolean;
  progress: (message: string) => void;
}

export type PoolerResult =
  /** No usable pgbouncer binary: `reason` says what is missing, `hint` how to get it (see pgbouncerAbsent). */
  | { status: 'absent'; reason: string; hint: string }
  | { status: 'started' | 'already-running' | 'reloaded'; port: number; version: string; preparedStatements: boolean; pid: number };

async function choosePort(host: string, preferred: number): Promise<number> {
  for (let port = preferred; port < preferred + 20; port++) if (await isPortFree(port, host)) return port;
  throw new JeexDbError('POOLER_START_FAILED', `no free port for PgBouncer between ${preferred} and ${preferred + 19}`, {
    hint: 'Free one, or start without PgBouncer: `jeex-db up --no-pooler`.',
  });
}

/** Where the pgbouncer.ini we wrote makes PgBouncer listen (undefined: no such file, or not ours). */
export async function configuredListen(ini: string): Promise<{ host: string; port: number } | undefined> {
  let text: string;
  try {
    text = await readFile(ini, 'utf8');
  } catch {
    return undefined;
  }
  const port = /^listen_port = (\d+)$/m.exec(text)?.[1];
  const host = /^listen_addr = (\S+)$/m.exec(text)?.[1];
  return port && host ? { host, port: Number(port) } : undefined;
}

async function writeOwned(file: string, text: string, mode: number, as: RunAs | undefined): Promise<boolean> {
  let before: string | undefined;
  try {
    before = await readFile(file, 'utf8');
  } catch {
    before = undefined;
  }
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  if (as) await chown(file, as.uid, as.gid);
  return before !== text;
}

/**
 * Bring up (or bring in line) a PgBouncer in front of a server: pgbouncer.ini from the server's
 * max_connections and the CPUs, userlist.txt from pg_authid's SCRAM verifiers, started when not
 * running (also after a crash), reloaded when its files changed. Without the binary, says what is
 * missing and how to install it (`absent`).
 */
export async function ensurePooler(options: PoolerOptions): Promise<PoolerResult> {
  const search = await searchPgbouncer();
  const binary = search.binary;
  if (!binary) return { status: 'absent', ...pgbouncerAbsent(search) };

  const files = poolerFiles(options.dir);
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  if (options.as) await chown(files.dir, options.as.uid, options.as.gid);
  // Whether it runs is decided inside the lock: a supervisor may be restarting it right now.
  return withPoolerLock(files.dir, () => bringUp(binary, files, options));
}

async function bringUp(binary: PgbouncerBinary, files: PoolerFiles, options: PoolerOptions): Promise<PoolerResult> {
  const running = await poolerPid(files);
  // A running PgBouncer keeps the port it listens on (RELOAD cannot move it): take it from its ini.
  const listeningOn = running ? (await configuredListen(files.ini))?.port : undefined;
  const port = listeningOn ?? (await choosePort(options.host, options.previousPort ?? options.server.port + POOLER_PORT_OFFSET));
  const [row] = await options.admin<{ max: string }[]>`SELECT current_setting('max_connections') AS max`;
  const preparedStatements = supportsPreparedStatements(binary);
  const settings = derivePoolerSettings({
    serverMaxConnections: Number(row?.max ?? 100),
    cpus: options.cpus,
    preparedStatements,
    ...(options.overrides ? { overrides: options.overrides } : {}),
  });
  const authChanged = await writeOwned(files.authFile, renderAuthFile(await authEntries(options.admin, options.roles, options.console)), 0o600, options.as);
  const iniChanged = await writeOwned(
    files.ini,
    renderPgbouncerIni({
      settings,
      listenAddr: options.host,
      listenPort: port,
      server: { host: options.host, port: options.server.port },
      authFile: files.authFile,
      adminUser: options.console.user,
      logfile: files.logfile,
      pidfile: files.pidfile,
      header: ['Written by `jeex-db up` on every start; the template with reasons is ops/pgbouncer.ini.'],
      ...(options.tls ? { tls: options.tls } : {}),
    }),
    0o600,
    options.as,
  );

  if (running) {
    if (!authChanged && !iniChanged && !options.reloadTls) return { status: 'already-running', port, version: binary.version, preparedStatements, pid: running };
    await reloadPooler(files);
    options.progress('PgBouncer reloaded its configuration');
    return { status: 'reloaded', port, version: binary.version, preparedStatements, pid: running };
  }
  options.progress(`starting PgBouncer ${binary.version} on ${options.host}:${port}`);
  const pid = await startPooler(binary, files, { host: options.host, port }, options.as);
  return { status: 'started', port, version: binary.version, preparedStatements, pid };
}

/** Log in through PgBouncer and run a query: proves the whole path an application uses. */
export async function checkThroughPooler(url: string, preparedStatements: boolean): Promise<void> {
  const sql = connect(url, { max: 1, prepare: preparedStatements, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
  } catch (error) {
    const cause = translateDbError(error);
    throw new JeexDbError('POOLER_START_FAILED', `PgBouncer runs, but a query through it failed: ${cause.message}`, {
      hint: 'Read pgbouncer/pgbouncer.log in the data directory, or start without it: `jeex-db up --no-pooler`.',
      cause,
    });
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Stop the PgBouncer whose files are in `dir` (false when none was running). */
export async function stopPoolerIn(dir: string): Promise<boolean> {
  const files = poolerFiles(dir);
  if (!existsSync(dir)) return false;
  // Inside the lock: a supervisor restarting it right now finishes first, then it is stopped.
  return withPoolerLock(dir, () => stopPooler(files));
}
