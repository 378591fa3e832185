import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import type { PgBinaries } from './binaries.ts';
import { exec, type RunAs } from '../platform/exec.ts';
import { portInUse } from '../platform/port.ts';
import { processName, readPostmasterPid, whenReaped } from './postmaster-pid.ts';
import { processAlive } from '../platform/process-alive.ts';
import { logOffset, readLogSince, relevantLines } from '../platform/log-file.ts';
import { sleep } from '../core/sleep.ts';

export interface ServerStatus {
  running: boolean;
  pid?: number;
  /** From postmaster.pid: the port the running server listens on, and its state (`starting`, `ready`, ...). */
  port?: number;
  state?: string;
  /**
   * Not running, but postmaster.pid names a live process that is not PostgreSQL (`name`): the
   * file is stale (from before a reboot or container restart, its pid since reused), and a new
   * postmaster refuses to start until it is removed.
   */
  stale?: { pid: number; name: string };
}

/**
 * Whether a postmaster is running on this data directory (`pg_ctl status`, checked against the
 * process table). A dead postmaster that is still a zombie counts as stopped once it is reaped
 * (waiting up to `reapTimeoutMs`); a pid reused by another program counts as stopped, `stale`.
 */
export async function serverStatus(bin: PgBinaries, layout: LocalLayout, as?: RunAs, reapTimeoutMs = 10_000): Promise<ServerStatus> {
  const result = await exec(bin.pgCtl, ['status', '-D', layout.pgdata], { as, cwd: '/' });
  if (result.code !== 0) return { running: false };
  const pidText = /PID:\s*(\d+)/.exec(result.stdout)?.[1];
  if (!pidText) return { running: true };
  const pid = Number(pidText);
  if (!processAlive(pid)) {
    if (await whenReaped(pid, reapTimeoutMs)) return { running: false };
    throw new JeexDbError('SERVER_START_FAILED', `PostgreSQL's postmaster (pid ${pid}) is dead but still in the process table (a zombie that PID 1 has not reaped in ${reapTimeoutMs / 1000} s), so PostgreSQL cannot start again yet`, {
      hint: 'Run the container with an init that reaps orphans (`docker run --init`, tini), or wait and run `jeex-db up` again.',
      context: { pid },
    });
  }
  const name = await processName(pid);
  if (name !== undefined && name !== 'postgres') return { running: false, stale: { pid, name } };
  const file = await readPostmasterPid(layout.pgdata);
  return { running: true, pid, ...(file?.pid === pid && file.port ? { port: file.port } : {}), ...(file?.pid === pid && file.status ? { state: file.status } : {}) };
}

/** SERVER_START_FAILED for a postmaster.pid whose pid another program has now. */
export function stalePidFile(layout: LocalLayout, stale: { pid: number; name: string }): JeexDbError {
  return new JeexDbError('SERVER_START_FAILED', `${layout.pgdata}/postmaster.pid names pid ${stale.pid}, which is now \`${stale.name}\`, not PostgreSQL: the file is left from a server that died (a reboot or container restart), and PostgreSQL will not start while it names a live process`, {
    hint: `Make sure no PostgreSQL runs on ${layout.pgdata} (\`ps -p ${stale.pid} -o pid,cmd\`), remove ${layout.pgdata}/postmaster.pid, then run \`jeex-db up\` again.`,
    context: { pid: stale.pid, process: stale.name },
  });
}

/**
 * Start the server in the background with `pg_ctl start -w` (it detaches from our terminal and
 * survives us), logging to log/server.log. On failure, the lines this start wrote to the log say
 * why; the error code tells a busy port, a timeout and other failures apart.
 */
export async function startServer(
  bin: PgBinaries,
  layout: LocalLayout,
  options: { timeoutSeconds: number; host: string; port: number },
  as?: RunAs,
): Promise<ServerStatus> {
  const offset = await logOffset(layout.serverLog);
  const result = await exec(
    bin.pgCtl,
    ['start', '-D', layout.pgdata, '-l', layout.serverLog, '-w', '-t', String(Math.max(1, Math.ceil(options.timeoutSeconds))), '-s'],
    { as, cwd: layout.pgdata },
  );
  if (result.code === 0) return serverStatus(bin, layout, as);

  const log = await readLogSince(layout.serverLog, offset);
  const excerpt = relevantLines([...log, ...result.stderr.split('\n').filter(Boolean)]);
  const all = `${log.join('\n')}\n${result.stderr}`;
  if (/could not bind|Address already in use/i.test(all)) throw portInUse(options.port, options.host, excerpt);
  if (/did not start in time|stopped waiting/i.test(all)) {
    await stopServer(bin, layout, as, 'immediate').catch(() => undefined);
    throw startTimeout(options.timeoutSeconds, layout, excerpt);
  }
  throw new JeexDbError('SERVER_START_FAILED', `PostgreSQL did not start: ${firstReason(log) ?? result.stderr.trim()}`, {
    hint: `Read the log lines below (all of them in ${layout.serverLog}); a setting in postgresql.local.conf or postgresql.auto.conf is a common cause.`,
    logExcerpt: excerpt,
    context: { serverLog: layout.serverLog },
  });
}

/**
 * Reload a running server's configuration (`pg_ctl reload`: no connection needed, so it works
 * whatever TLS setup the server has now) and wait until the postmaster has taken it: it logs
 * "received SIGHUP" and then re-reads everything (pg_hba.conf, the TLS files) before it accepts
 * another connection.
 */
export async function reloadServer(bin: PgBinaries, layout: LocalLayout, as?: RunAs, timeoutMs = 10_000): Promise<void> {
  const offset = await logOffset(layout.serverLog);
  const result = await exec(bin.pgCtl, ['reload', '-D', layout.pgdata, '-s'], { as, cwd: '/' });
  if (result.code !== 0) {
    throw new JeexDbError('SERVER_START_FAILED', `pg_ctl reload failed: ${result.stderr.trim()}`, {
      hint: `Check ${layout.serverLog}; or restart the cluster: \`jeex-db down\`, then \`jeex-db up\`.`,
    });
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await readLogSince(layout.serverLog, offset)).some((line) => /received SIGHUP, reloading configuration files/.test(line))) return;
    await sleep(50);
  }
  throw new JeexDbError('SERVER_START_FAILED', `PostgreSQL did not reload its configuration within ${timeoutMs / 1000} s`, {
    hint: `Read ${layout.serverLog}; or restart the cluster: \`jeex-db down\`, then \`jeex-db up\`.`,
    logExcerpt: relevantLines(await readLogSince(layout.serverLog, offset)),
  });
}

export function startTimeout(seconds: number, layout: LocalLayout, excerpt: string[]): JeexDbError {
  return new JeexDbError('SERVER_START_TIMEOUT', `PostgreSQL was not ready to accept queries within ${seconds}s`, {
    hint: `Give it longer with --start-timeout N, or read ${layout.serverLog} for what it was doing (recovery after a crash can take a while).`,
    logExcerpt: excerpt,
    context: { serverLog: layout.serverLog, timeoutSeconds: seconds },
  });
}

function firstReason(lines: string[]): string | undefined {
  const line = lines.find((l) => /\b(FATAL|PANIC)\b/.test(l));
  return line?.replace(/^.*?\b(FATAL|PANIC):\s*/, '');
}

/** Stop the server and wait for it to exit. `fast` rolls back open transactions, then shuts down cleanly. */
export async function stopServer(
  bin: PgBinaries,
  layout: LocalLayout,
  as?: RunAs,
  mode: 'smart' | 'fast' | 'immediate' = 'fast',
  timeoutSeconds = 60,
): Promise<boolean> {
  const result = await exec(bin.pgCtl, ['stop', '-D', layout.pgdata, '-m', mode, '-w', '-t', String(timeoutSeconds), '-s'], {
    as,
    cwd: '/',
  });
  if (result.code === 0) return true;
  if (/Is server running\?|No such file|PID file .* does not exist/i.test(result.stderr)) return false;
  throw new JeexDbError('SERVER_START_FAILED', `pg_ctl stop failed: ${result.stderr.trim()}`, {
    hint: `Check ${layout.serverLog}; as a last resort stop it with \`pg_ctl stop -m immediate -D ${layout.pgdata}\`.`,
  });
}

/**
 * Promote a running standby (`pg_ctl promote -w`: returns once it left recovery and accepts
 * writes). False when the server is not a standby (pg_ctl says so); throws on other failures.
 */
export async function promoteServer(bin: PgBinaries, layout: LocalLayout, as?: RunAs, timeoutSeconds = 60): Promise<boolean> {
  const result = await exec(bin.pgCtl, ['promote', '-D', layout.pgdata, '-w', '-t', String(timeoutSeconds), '-s'], { as, cwd: '/' });
  if (result.code === 0) return true;
  if (/not in standby mode/i.test(result.stderr)) return false;
  throw new JeexDbError('PROMOTE_FAILED', `pg_ctl promote failed: ${result.stderr.trim()}`, {
    hint: `Read ${layout.serverLog}: a standby still replaying a long backlog may need longer (--timeout).`,
    logExcerpt: relevantLines(result.stderr.split('\n').filter(Boolean)),
  });
}
