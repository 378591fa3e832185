import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { JeexDbError } from '../../core/errors.ts';

/** The lock of one PgBouncer directory: a directory `pgbouncer.lock` beside its pidfile. */
export const POOLER_LOCK = 'pgbouncer.lock';

/** How long a holder that stopped refreshing the lock (a killed process) keeps it, ms. */
const STALE_MS = 10_000;

/**
 * Run `fn` holding the lock of a PgBouncer directory, so that only one process at a time starts,
 * restarts or stops that PgBouncer: `jeex-db up`, `down`, and the supervisors of `up` in the
 * foreground and of `serve` may all look at it at once, and each decides from the pidfile
 * *inside* the lock (someone else may have restarted it while this one waited). The lock is
 * proper-lockfile's (an atomic mkdir, refreshed while held, taken over once stale), so a holder
 * killed with SIGKILL blocks the others for at most 10 s.
 *
 * @example
 * await withPoolerLock(files.dir, async () => { if (!(await poolerPid(files))) await startPooler(...) });
 */
export async function withPoolerLock<T>(dir: string, fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, {
      lockfilePath: join(dir, POOLER_LOCK),
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 4,
      // ~30 s of tries, 25 ms apart at first, then 250 ms.
      retries: { retries: Math.ceil(waitMs / 250), factor: 1.5, minTimeout: 25, maxTimeout: 250 },
      // A lock lost while held (its directory removed, the clock jumped) must not throw from a
      // timer: whoever holds it now decides from the pidfile again.
      onCompromised: () => {},
    });
  } catch (error) {
    throw new JeexDbError('POOLER_START_FAILED', `another process holds the PgBouncer lock ${join(dir, POOLER_LOCK)} (starting, restarting or stopping it) and did not let go within ${Math.round(waitMs / 1000)} s`, {
      hint: 'Wait for the other `jeex-db up`, `down` or `serve` to finish; a lock left by a killed process is taken over after 10 s.',
      cause: error,
      context: { dir },
    });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
