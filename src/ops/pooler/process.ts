import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { serverEnv, type RunAs } from '../../platform/exec.ts';
import { processAlive } from '../../platform/process-alive.ts';
import { logOffset, readLogSince, relevantLines } from '../../platform/log-file.ts';
import type { PgbouncerBinary } from './binary.ts';
import { sleep } from '../../core/sleep.ts';

/** The files of one PgBouncer, under `<data dir>/pgbouncer/`. */
export interface PoolerFiles {
  dir: string;
  ini: string;
  authFile: string;
  pidfile: string;
  logfile: string;
  /** Its exit status, written by the shell that started it once it exits (`137`: SIGKILL). */
  exitFile: string;
  /** The first 16 KiB of what it printed (the configuration errors it reports before its log is open). */
  startupFile: string;
}

export function poolerFiles(dir: string): PoolerFiles {
  return {
    dir,
    ini: join(dir, 'pgbouncer.ini'),
    authFile: join(dir, 'userlist.txt'),
    pidfile: join(dir, 'pgbouncer.pid'),
    logfile: join(dir, 'pgbouncer.log'),
    exitFile: join(dir, 'pgbouncer.exit'),
    startupFile: join(dir, 'pgbouncer.startup'),
  };
}

const alive = processAlive;

const hasProc = existsSync('/proc/self/comm');

/** Whether `pid` is a pgbouncer (a stale pidfile's number may belong to another process by now); without /proc, trusted. */
async function isPgbouncer(pid: number): Promise<boolean> {
  if (!hasProc) return true;
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'pgbouncer';
  } catch {
    return false; // gone meanwhile
  }
}

/** The running PgBouncer's pid from its pidfile, if that process is alive (and is a pgbouncer). */
export async function poolerPid(files: PoolerFiles): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(files.pidfile, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) && (await isPgbouncer(pid)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** How a PgBouncer ended: its exit code, or the signal that killed it; both null when unknown. */
export interface PoolerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * How the last PgBouncer of `files` ended, from the status its shell wrote (a shell reports
 * death by signal N as 128 + N). Undefined while it runs, or when nobody recorded it (the
 * shell was killed too, or it was started by an older jeex-db with `-d`).
 */
export async function poolerExit(files: PoolerFiles): Promise<PoolerExit | undefined> {
  let text: string;
  try {
    text = (await readFile(files.exitFile, 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (!/^\d+$/.test(text)) return undefined;
  const status = Number(text);
  const signal = status > 128 ? signalNames.get(status - 128) : undefined;
  return signal ? { code: null, signal } : { code: status, signal: null };
}

/** `killed by SIGKILL`, `exit code 1`, or `exit status unknown`. */
export function describeExit(exit: PoolerExit | undefined): string {
  if (exit?.signal) return `killed by ${exit.signal}`;
  if (exit && exit.code !== null) return `exit code ${exit.code}`;
  return 'exit status unknown';
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
 * What runs PgBouncer: a shell that stays its parent, so its exit status is known to whoever
 * looks later (a daemon started with `-d` dies unseen: nobody can wait for it). PgBouncer runs
 * in the foreground; it writes its own log (`logfile`) and pidfile, and what it prints (the same
 * lines, and before its log is open the configuration errors) is kept for its first 16 KiB and
 * then read and dropped, so the pipe never fills. $0 pgbouncer, $1 pgbouncer.ini, $2 the exit
 * file, $3 the startup file.
 */
const LAUNCHER = '{ "$0" "$1" 2>&1 >/dev/null; echo $? > "$2"; } | { head -c 16384 > "$3"; cat > /dev/null; }';

/**
 * Start PgBouncer in the background as the server's OS user when we are root (it refuses root
 * too), detached from this process (it outlives the CLI), and wait until it listens. A stale
 * pidfile from a crash is removed first. Call it holding the directory's lock (`withPoolerLock`).
 */
export async function startPooler(binary: PgbouncerBinary, files: PoolerFiles, listen: { host: string; port: number }, as?: RunAs, timeoutMs = 10_000): Promise<number> {
  if (!(await poolerPid(files))) await rm(files.pidfile, { force: true });
  await rm(files.exitFile, { force: true });
  await rm(files.startupFile, { force: true });
  const offset = await logOffset(files.logfile);
  let launcherDone = false;
  let launchError: Error | undefined;
  const child = spawn('/bin/sh', ['-c', LAUNCHER, binary.path, files.ini, files.exitFile, files.startupFile], {
    cwd: files.dir,
    detached: true,
    stdio: 'ignore',
    env: { ...serverEnv(), ...(as ? { HOME: '/', USER: as.name, LOGNAME: as.name } : {}) },
    ...(as ? { uid: as.uid, gid: as.gid } : {}),
  });
  child.once('error', (error) => (launchError = error));
  child.once('exit', () => (launcherDone = true));
  child.unref();
  const failed = async (why: string) => {
    const log = relevantLines(await readLogSince(files.logfile, offset));
    const printed = (await readFile(files.startupFile, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim());
    // What it printed holds its log lines too: keep each line once.
    const lines = [...new Set([...printed, ...log])];
    return new JeexDbError('POOLER_START_FAILED', `PgBouncer did not start: ${why}`, {
      hint: `Read the lines below (all of them in ${files.logfile}), or start without it: \`jeex-db up --no-pooler\`.`,
      logExcerpt: relevantLines(lines),
      context: { ini: files.ini, logfile: files.logfile, port: listen.port },
      ...(launchError ? { cause: launchError } : {}),
    });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (launchError) throw await failed(`the shell that runs it did not start (${launchError.message})`);
    const pid = await poolerPid(files);
    if (pid && (await listening(listen.port, listen.host))) return pid;
    if (launcherDone) throw await failed(`pgbouncer ended before it listened (${describeExit(await poolerExit(files))})`);
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
 * `graceMs` (immediate). Resolves once the process is gone and its pidfile removed (which tells
 * a supervisor the stop was meant). Call it holding the directory's lock (`withPoolerLock`).
 */
export async function stopPooler(files: PoolerFiles, graceMs = 5_000): Promise<boolean> {
  const pid = await poolerPid(files);
  if (!pid) {
    // Dead already (killed, crashed): it stays stopped, even under a supervisor.
    await rm(files.pidfile, { force: true });
    await rm(files.exitFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    process.kill(pid, 'SIGTERM');
    while (alive(pid)) await sleep(50);
  }
  // No pidfile and no failure recorded: a supervisor knows the stop was meant.
  await rm(files.pidfile, { force: true });
  await rm(files.exitFile, { force: true });
  return true;
}
