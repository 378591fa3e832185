import { JeexDbError } from '../db/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import type { PgBinaries } from './binaries.ts';
import { exec, type RunAs } from './exec.ts';
import { portInUse } from './port.ts';
import { logOffset, readLogSince, relevantLines } from './server-log.ts';

export interface ServerStatus {
  running: boolean;
  pid?: number;
}

/** Whether a postmaster is running on this data directory (`pg_ctl status`). */
export async function serverStatus(bin: PgBinaries, layout: LocalLayout, as?: RunAs): Promise<ServerStatus> {
  const result = await exec(bin.pgCtl, ['status', '-D', layout.pgdata], { as, cwd: '/' });
  if (result.code !== 0) return { running: false };
  const pid = /PID:\s*(\d+)/.exec(result.stdout)?.[1];
  return pid ? { running: true, pid: Number(pid) } : { running: true };
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
    await new Promise((resolve) => setTimeout(resolve, 50));
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
