import type postgres from 'postgres';
import { localLayout } from '../local/layout.ts';
import { findBinaries } from './binaries.ts';
import { serverOsUser } from '../platform/os-user.ts';
import { reloadServer } from './pg-ctl.ts';
import { logOffset, readNewLines, type LogCursor } from '../platform/log-file.ts';
import { sleep } from '../core/sleep.ts';

/*
 * archive_timeout bounds what a crash can lose from the WAL archive only once the checkpointer
 * counts it. PostgreSQL 18's checkpointer (CheckpointerMain) sleeps until the next
 * checkpoint_timeout (15 min here) and shortens that sleep to archive_timeout only when
 * !RecoveryInProgress(). It starts together with the startup process, so its first sleep is
 * computed while the server is still starting (or, after a crash, right after the
 * end-of-recovery checkpoint, racing the startup process): for up to 15 minutes after a start
 * nothing switches the WAL segment, and a commit in that window reaches the archive only when
 * the segment fills or the first timed checkpoint comes. Measured on the embedded 18.4 with
 * archive_timeout = 10s: commits right after a clean start or a kill -9 restart not archived
 * after 40-60 s, without a wake-up; archived after 9-10 s with one.
 *
 * Any wake-up after the start has finished makes the checkpointer compute its sleep again, this
 * time with archive_timeout. A configuration reload is the cheapest: SIGHUP sets every process's
 * latch, nothing is written (pg_switch_wal() does not wake it; CHECKPOINT does, but flushes
 * every dirty buffer and writes WAL that itself must be archived).
 */

/**
 * Make archive_timeout effective now, after a (re)start: `SELECT pg_reload_conf()` (superuser,
 * or a role granted EXECUTE on it) wakes the checkpointer. `up` calls it once the server answers.
 *
 * @example
 * await armArchiveTimeout(adminSql);
 */
export async function armArchiveTimeout(sql: postgres.Sql): Promise<void> {
  await sql`SELECT pg_reload_conf()`;
}

/** The line the postmaster logs when a start, or a restart after a backend crash, has finished. */
const READY = /\] LOG: {2}database system is ready to accept connections$/;

export interface RearmOptions {
  dataDir?: string;
  cwd?: string;
  osUser?: string;
  /** How often the server log is read. Default 2000 ms. */
  intervalMs?: number;
  /** Told after each crash restart, with what was done (or why it failed). */
  onRestart?: (message: string) => void;
}

/**
 * While a local cluster runs (restart_after_crash is on: a crashed backend makes the postmaster
 * restart every process, the checkpointer included), follow its server log and re-arm
 * archive_timeout with `pg_ctl reload` after every restart. Resolves when `signal` aborts. This is
 * what `up` in the foreground runs; a detached cluster is re-armed by the next `jeex-db up`.
 *
 * @example
 * const stop = new AbortController();
 * void rearmAfterCrashRestarts({ dataDir: '.jeex-db', onRestart: console.error }, stop.signal);
 */
export async function rearmAfterCrashRestarts(options: RearmOptions, signal: AbortSignal): Promise<void> {
  const layout = localLayout(options.dataDir, options.cwd);
  const [bin, as] = await Promise.all([findBinaries(), serverOsUser(options.osUser)]);
  let cursor: LogCursor = { offset: await logOffset(layout.serverLog), partial: '' };
  const intervalMs = options.intervalMs ?? 2000;
  while (!signal.aborted) {
    await sleep(intervalMs, { signal });
    if (signal.aborted) break;
    const read = await readNewLines(layout.serverLog, cursor);
    cursor = read.cursor;
    if (!read.lines.some((line) => READY.test(line))) continue;
    try {
      await reloadServer(bin, layout, as);
      options.onRestart?.(`PostgreSQL restarted after a crash (see ${layout.serverLog}); archive_timeout re-armed with a configuration reload`);
    } catch (error) {
      options.onRestart?.(`PostgreSQL restarted after a crash, and re-arming archive_timeout failed: ${(error as Error).message}; run \`jeex-db up\` again`);
    }
  }
}
