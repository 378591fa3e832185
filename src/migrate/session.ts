import type { ReservedSql, Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import { ensureLedger } from './ledger.ts';
import { acquireMigrationLock, releaseMigrationLock } from './lock.ts';

/**
 * Make the server notice within a second when this process dies (SIGKILL, a lost network): it
 * then cancels the running statement, rolls the migration's transaction back and frees the
 * lock, instead of finishing a long statement for a client that is gone.
 *
 * The role's idle_session_timeout (SEC-003) is turned off for these two sessions: closing the
 * lock session frees the lock mid-run, and while it is polled during each statement (blockers),
 * nothing keeps it busy between the runner's steps. Both end when the run does.
 */
async function watchClient(sql: ReservedSql): Promise<void> {
  await sql`SELECT set_config('client_connection_check_interval', '1000', false), set_config('idle_session_timeout', '0', false)`;
}

/** Two reserved connections: one holds the advisory lock (and watches), one does the work. */
export interface MigrationSession {
  lock: ReservedSql;
  work: ReservedSql;
  workPid: number;
  close(): Promise<void>;
}

/**
 * Reserve the lock connection, take the migration lock (before the ledger is even created, so
 * simultaneous runners cannot race on its DDL), then reserve the work connection and create the
 * ledger. The pool must allow two connections; both go back to it on `close()`.
 */
export async function openSession(sql: Sql, lockWaitMs: number, progress: (message: string) => void): Promise<MigrationSession> {
  const max = (sql.options as { max?: number }).max ?? 10;
  if (max < 2) {
    throw new JeexDbError('INVALID_CONFIG', `the migration runner needs a client with max >= 2 connections (one holds the lock), got max ${max}`, {
      hint: 'Create the client with postgres(url, { max: 2 }) or more.',
    });
  }
  let lock: ReservedSql | undefined;
  let work: ReservedSql | undefined;
  let locked = false;
  try {
    lock = await sql.reserve();
    await lock`SELECT set_config('application_name', current_setting('application_name') || ' (migration lock)', false)`;
    await watchClient(lock);
    const started = Date.now();
    const waitNote = setTimeout(() => progress('waiting for the migration lock (another runner is migrating)'), 500);
    try {
      await acquireMigrationLock(lock, lockWaitMs);
    } finally {
      clearTimeout(waitNote);
    }
    locked = true;
    if (Date.now() - started > 500) progress(`got the migration lock after ${((Date.now() - started) / 1000).toFixed(1)}s`);
    work = await sql.reserve();
    await watchClient(work);
    const [row] = await work<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    await ensureLedger(work);
    const [lockConn, workConn] = [lock, work];
    return {
      lock: lockConn,
      work: workConn,
      workPid: row?.pid ?? 0,
      close: async () => {
        await releaseMigrationLock(lockConn).catch(() => undefined);
        lockConn.release();
        workConn.release();
      },
    };
  } catch (error) {
    if (locked && lock) await releaseMigrationLock(lock).catch(() => undefined);
    lock?.release();
    work?.release();
    throw error instanceof JeexDbError ? error : translateDbError(error);
  }
}
