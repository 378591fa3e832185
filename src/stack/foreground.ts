import { rearmAfterCrashRestarts } from '../cluster/archive-timeout.ts';
import { JeexDbError } from '../core/errors.ts';
import { down, whenServerExits, type DownResult } from './up.ts';

export interface ForegroundOptions {
  /** The postmaster `up` started. */
  pid: number;
  dataDir: string;
  osUser?: string;
  /** Resolves (with its reason, e.g. `SIGTERM`) when PostgreSQL should stop. */
  stop: Promise<string>;
  /**
   * What runs beside PostgreSQL, stopped in this order before it is (PgBouncer's supervisor
   * before anything stops PgBouncer; the health server before PostgreSQL, so its alerts do not
   * report the shutdown as an outage).
   */
  beside?: (() => Promise<void>)[];
  /** Told after each crash restart (archive_timeout re-armed, or why not). */
  onRestart?: (message: string) => void;
  /** Told what is being done: `SIGTERM: stopping PostgreSQL`, `stopped`. */
  onProgress?: (message: string) => void;
}

/**
 * Keep a local cluster started by `up` in the foreground: re-arm archive_timeout after crash
 * restarts until `stop` resolves, then stop what runs beside it and the cluster (`down`).
 * Throws SERVER_STOPPED when PostgreSQL stops on its own first (what runs beside it is stopped
 * all the same).
 *
 * @example
 * const result = await up({ dataDir: '.jeex-db' });
 * await runForeground({ pid: result.pid!, dataDir: '.jeex-db', stop: once(process, 'SIGTERM').then(() => 'SIGTERM') });
 */
export async function runForeground(options: ForegroundOptions): Promise<DownResult> {
  const { pid, dataDir, osUser } = options;
  const halt = new AbortController();
  // A backend crash restarts every server process; archive_timeout needs waking up again after it.
  rearmAfterCrashRestarts({ dataDir, ...(osUser !== undefined ? { osUser } : {}), ...(options.onRestart ? { onRestart: options.onRestart } : {}) }, halt.signal).catch((error: unknown) =>
    options.onRestart?.(`archive_timeout is not re-armed after crash restarts: ${(error as Error).message}`),
  );
  const outcome = await Promise.race([options.stop, whenServerExits(pid, halt.signal).then(() => 'exited' as const)]);
  halt.abort();
  for (const stop of options.beside ?? []) await stop();
  if (outcome === 'exited') {
    throw new JeexDbError('SERVER_STOPPED', `PostgreSQL (pid ${pid}) stopped on its own`, {
      hint: `Read the end of ${dataDir}/log/server.log, then run \`jeex-db up\` again.`,
    });
  }
  options.onProgress?.(`${outcome}: stopping PostgreSQL`);
  const result = await down({ dataDir, ...(osUser !== undefined ? { osUser } : {}) });
  options.onProgress?.('stopped');
  return result;
}
