import { existsSync, readdirSync, readFileSync } from 'node:fs';

const hasProc = existsSync('/proc/self/stat');

/**
 * Whether process `pid` is alive. A daemon we started (pg_ctl's postmaster, PgBouncer -d) is
 * reparented to PID 1, which in a container may never reap it: a dead one then lingers as a
 * zombie that kill(pid, 0) still finds, so zombies count as dead. EPERM means alive (another
 * user's process).
 *
 * A multithreaded process (PgBouncer runs a DNS thread) that was killed shows its main thread
 * as a zombie while the other threads are still exiting, and its sockets stay open until the
 * last one is gone: it counts as alive until /proc lists no other thread.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!hasProc) return true; // not Linux: trust kill(pid, 0)
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z') return true;
    return readdirSync(`/proc/${pid}/task`).some((task) => task !== String(pid));
  } catch {
    return false; // gone between kill(pid, 0) and reading /proc
  }
}

/** Resolve when process `pid` is gone (polling: it need not be our child), or when `signal` aborts. */
export function whenProcessExits(pid: number, signal?: AbortSignal, intervalMs = 500): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (processAlive(pid)) return;
      clearInterval(timer);
      resolve();
    }, intervalMs);
    signal?.addEventListener('abort', () => {
      clearInterval(timer);
      resolve();
    });
  });
}
