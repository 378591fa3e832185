import { chown, copyFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalLayout } from '../local/layout.ts';
import type { RunAs } from './exec.ts';
import { renderConf, type Setting } from './tuning.ts';

/** The package's `ops/` directory (from src/server or dist/server alike). */
export const opsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ops');

export interface LocalServerSettings {
  host: string;
  port: number;
  tuning: Setting[];
  machine: string;
}

/**
 * Write the cluster's configuration on every start: ops/postgresql.conf and ops/pg_hba.conf as
 * they are, jeex-tuning.conf derived from this machine, jeex-local.conf with the port.
 * postgresql.local.conf is the user's and is never touched.
 */
export async function writeServerConfig(layout: LocalLayout, settings: LocalServerSettings, as?: RunAs): Promise<void> {
  const files: string[] = [];
  for (const name of ['postgresql.conf', 'pg_hba.conf']) {
    const target = join(layout.pgdata, name);
    await copyFile(join(opsDir, name), target);
    files.push(target);
  }
  const tuning = join(layout.pgdata, 'jeex-tuning.conf');
  await writeFile(
    tuning,
    renderConf(settings.tuning, [
      'Written by `jeex-db up` on every start; do not edit (use postgresql.local.conf).',
      `Derived from this machine: ${settings.machine}.`,
      'Explained by `jeex-db config --explain`.',
    ]),
  );
  const local = join(layout.pgdata, 'jeex-local.conf');
  await writeFile(
    local,
    [
      '# Written by `jeex-db up` on every start: where this local cluster listens.',
      `listen_addresses = '${settings.host}'`,
      `port = ${settings.port}`,
      "unix_socket_directories = ''",
      '',
    ].join('\n'),
  );
  files.push(tuning, local);
  if (as) await Promise.all(files.map((file) => chown(file, as.uid, as.gid)));
}
