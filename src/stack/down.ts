import { findBinaries } from '../cluster/binaries.ts';
import { serverStatus, stopServer } from '../cluster/pg-ctl.ts';
import { localLayout } from '../local/layout.ts';
import { stopPoolerIn } from '../ops/pooler/local.ts';
import { serverOsUser } from '../platform/os-user.ts';

export interface DownResult {
  dataDir: string;
  /** The server was running and is now stopped. */
  stopped: boolean;
  /** A PgBouncer was running and is now stopped. */
  poolerStopped: boolean;
}

/**
 * Stop the local cluster of a data directory and its PgBouncer (a no-op when they are not
 * running); the data is kept.
 *
 * @example
 * const { stopped } = await down({ dataDir: '.jeex-db' });
 */
export async function down(options: { dataDir?: string; cwd?: string; osUser?: string } = {}): Promise<DownResult> {
  const layout = localLayout(options.dataDir, options.cwd);
  const bin = await findBinaries();
  const as = await serverOsUser(options.osUser);
  // PgBouncer first: its clients should not see the server vanish under them.
  const poolerStopped = await stopPoolerIn(layout.pgbouncerDir);
  const status = await serverStatus(bin, layout, as);
  if (!status.running) return { dataDir: layout.root, stopped: false, poolerStopped };
  return { dataDir: layout.root, stopped: await stopServer(bin, layout, as, 'fast'), poolerStopped };
}
