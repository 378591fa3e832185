import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { JeexDbError } from '../db/errors.ts';
import { exec, type RunAs } from '../server/exec.ts';
import { processAlive } from '../server/process-alive.ts';
import { logOffset, readLogSince, relevantLines } from '../server/server-log.ts';
import type { PgbouncerBinary } from './binary.ts';

/** The files of one PgBouncer, under `<data dir>/pgbouncer/`. */
export interface PoolerFiles {
  dir: string;
  ini: string;
  authFile: string;
  pidfile: string;
  logfile: string;
}

export function poolerFiles(dir: string): PoolerFiles {
  return {
    dir,
    ini: join(dir, 'pgbouncer.ini'),
    authFile: join(dir, 'userlist.txt'),
    pidfile: join(dir, 'pgbouncer.pid'),
    logfile: join(dir, 'pgbouncer.log'),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const alive = processAlive;

/** The running PgBouncer's pid from its pidfile, if that process is alive. */
export async function poolerPid(files: PoolerFiles): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(files.pidfile, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function listening(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Start PgBouncer in the background (`-d`), as the server's OS user when we are root (it refuses
 * root too), and wait until it listens. A stale pidfile from a crash is removed first.
 */
export async function startPooler(binary: PgbouncerBinary, files: PoolerFiles, listen: { host: string; port: number }, as?: RunAs, timeoutMs = 10_000): Promise<number> {
  if (!(await poolerPid(files))) await rm(files.pidfile, { force: true });
  const offset = await logOffset(files.logfile);
  const result = await exec(binary.path, ['-d', files.ini], { as, cwd: files.dir });
  const failed = async (why: string) => {
    const log = relevantLines(await readLogSince(files.logfile, offset));
    const output = `${result.stderr}\n${result.stdout}`.split('\n').filter((l) => l.trim());
    return new JeexDbError('POOLER_START_FAILED', `PgBouncer did not start: ${why}`, {
      hint: `Read the lines below (all of them in ${files.logfile}), or start without it: \`jeex-db up --no-pooler\`.`,
      logExcerpt: [...output, ...log].slice(-12),
      context: { ini: files.ini, logfile: files.logfile, port: listen.port },
    });
  };
  if (result.code !== 0) throw await failed(`pgbouncer exited with code ${result.code}`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pid = await poolerPid(files);
    if (pid && (await listening(listen.port, listen.host))) return pid;
    await sleep(50);
  }
  throw await failed(`not listening on ${listen.host}:${listen.port} after ${timeoutMs / 1000}s`);
}

/** Reload pgbouncer.ini and the auth file (SIGHUP, the same as RELOAD on the console). */
export async function reloadPooler(files: PoolerFiles): Promise<boolean> {
  const pid = await poolerPid(files);
  if (!pid) return false;
  process.kill(pid, 'SIGHUP');
  return true;
}

/**
 * Stop PgBouncer: SIGINT first (safe shutdown: running transactions finish), SIGTERM after
 * `graceMs` (immediate). Resolves once the process is gone.
 */
export async function stopPooler(files: PoolerFiles, graceMs = 5_000): Promise<boolean> {
  const pid = await poolerPid(files);
  if (!pid) return false;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    process.kill(pid, 'SIGTERM');
    while (alive(pid)) await sleep(50);
  }
  await rm(files.pidfile, { force: true });
  return true;
}
