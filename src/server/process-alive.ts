import { readFileSync } from 'node:fs';

/**
 * Whether process `pid` is alive. A daemon we started (pg_ctl's postmaster, PgBouncer -d) is
 * reparented to PID 1, which in a container may never reap it: a dead one then lingers as a
 * zombie that kill(pid, 0) still finds, so zombies count as dead. EPERM means alive (another
 * user's process).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(pid, 0)
  }
}
