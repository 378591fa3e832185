import { detectMachine } from '../../cluster/machine.ts';
import { reloadServer } from '../../cluster/pg-ctl.ts';
import { deriveSettings, humanBytes, type Setting } from '../../cluster/tuning.ts';
import { logOffset } from '../../platform/log-file.ts';
import { writeAccessConfig, writeServerConfig } from '../configure.ts';
import type { UpContext, UpStep } from '../step.ts';
import { LOCAL_HOST } from '../up-types.ts';
import type { DataDir } from './data-dir.ts';
import type { Preflight } from './preflight.ts';
import type { Tls } from './tls.ts';

export interface Configure {
  /** The CPUs tuned for (PgBouncer's pool sizes follow them too). */
  cpus: number;
  /** The settings derived for this machine; undefined when the server was already running (they wait for its next start). */
  settings: Setting[] | undefined;
  /** Where the server log ended before this start: a start that never answers quotes what came after. */
  logStart: number;
}

/**
 * The cluster's configuration: for a server about to start, postgresql.conf, jeex-tuning.conf
 * (derived from this machine), pg_hba.conf and jeex-local.conf; for a running one, what a reload
 * applies (pg_hba.conf, TLS, the WAL archive directory), reloaded when that or a certificate
 * changed. Nothing to undo: the files are written again by every `up`.
 */
export const configure: UpStep<UpContext & Pick<Preflight, 'bin' | 'as' | 'status' | 'port'> & Pick<DataDir, 'repo'> & Tls, Configure> = {
  name: 'configure',
  async run({ options, layout, progress, bin, as, status, port, repo, tls }) {
    const machine = detectMachine();
    const cpus = options.cpus ?? machine.cpus;
    const logStart = await logOffset(layout.serverLog);
    if (!status.running) {
      const memoryBytes = options.memoryBytes ?? machine.memoryBytes;
      const settings = deriveSettings({ memoryBytes, cpus, storage: machine.storage }, options.maxConnections ? { maxConnections: options.maxConnections } : {});
      await writeServerConfig(
        layout,
        { host: LOCAL_HOST, port, tuning: settings, machine: `${humanBytes(memoryBytes)} memory, ${cpus} CPUs`, walArchiveDir: repo.wal, ...(tls.files ? { tls: tls.files } : {}) },
        as,
      );
      return { cpus, settings, logStart };
    }
    progress(`PostgreSQL is already running on ${LOCAL_HOST}:${port} (pid ${status.pid ?? '?'})`);
    // It still has the TLS setup (and certificates) of its last start: pg_hba.conf, the ssl
    // settings and renewed certificates take effect with a reload.
    const access = { host: LOCAL_HOST, port, walArchiveDir: repo.wal, ...(tls.files ? { tls: tls.files } : {}) };
    if ((await writeAccessConfig(layout, access, as)) || tls.changed) {
      progress(`reloading PostgreSQL's configuration (TLS ${tls.files ? 'on' : 'OFF'})`);
      await reloadServer(bin, layout, as);
    }
    return { cpus, settings: undefined, logStart };
  },
};
