import { findBinaries, type PgBinaries } from '../../cluster/binaries.ts';
import { checkClusterVersion } from '../../cluster/data-dir.ts';
import { serverStatus, stalePidFile, type ServerStatus } from '../../cluster/pg-ctl.ts';
import { readOrSetAsideState } from '../../local/files.ts';
import type { LocalState } from '../../local/state.ts';
import { resolveTlsPlan, type TlsPlan } from '../../ops/tls/config.ts';
import type { RunAs } from '../../platform/exec.ts';
import { serverOsUser } from '../../platform/os-user.ts';
import { choosePort } from '../choose-port.ts';
import type { UpContext, UpStep } from '../step.ts';
import { DEFAULT_PORT, LOCAL_HOST } from '../up-types.ts';

export interface Preflight {
  tlsPlan: TlsPlan;
  bin: PgBinaries;
  /** The OS user the server runs as (when we are root). */
  as: RunAs | undefined;
  /** state.json of the last `up` (a damaged one is set aside: it holds no secrets). */
  previous: LocalState | undefined;
  /** Whether pgdata holds a cluster of this PostgreSQL major already. */
  cluster: 'new' | 'existing';
  /** Whether the server runs now (before this `up` did anything). */
  status: ServerStatus;
  port: number;
}

/**
 * Everything that can refuse before anything is created, so a first `up` that fails here leaves
 * no data directory behind: production without real certificates, the PostgreSQL binaries, the
 * OS user, a cluster of another major, a stale postmaster.pid, a port in use. Nothing to undo
 * (a damaged state.json set aside stays aside: it is written again later).
 */
export const preflight: UpStep<UpContext, Preflight> = {
  name: 'preflight',
  async run({ options, layout, progress, notes }) {
    const tlsPlan = resolveTlsPlan(options.tls ?? {}, options.env ?? process.env);
    const bin = await findBinaries();
    const as = await serverOsUser(options.osUser);
    const previous = await readOrSetAsideState(layout, (message) => notes.push(message));
    const cluster = await checkClusterVersion(layout.pgdata, bin.major);
    const status = await serverStatus(bin, layout, as);
    if (status.stale) throw stalePidFile(layout, status.stale);
    const port = await choosePort({ layout, status, previous, cluster, asked: options.port, host: LOCAL_HOST, defaultPort: DEFAULT_PORT }, progress, notes);
    return { tlsPlan, bin, as, previous, cluster, status, port };
  },
};
