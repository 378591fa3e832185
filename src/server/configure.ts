import { chmod, chown, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JeexDbError } from '../db/errors.ts';
import type { BackupRepo } from '../backup/repo.ts';
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
  /** Where basic_archive copies finished WAL segments (`<repo>/wal`); see prepareWalArchive. */
  walArchiveDir?: string;
}

/**
 * Write the cluster's configuration on every start: ops/postgresql.conf and ops/pg_hba.conf as
 * they are, jeex-tuning.conf derived from this machine, jeex-local.conf with the port and the WAL archive
 * directory.
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
      '# The logging collector appends to the file `pg_ctl -l` started the server with (and server.json):',
      '# one log per cluster, which `up`, `restore` and `jeex-db audit` read.',
      "log_filename = 'server.log'",
      ...(settings.walArchiveDir
        ? [
            '# The WAL archive of this cluster: <backup repository>/wal (archive_mode and archive_library',
            '# are set in postgresql.conf).',
            `basic_archive.archive_directory = '${settings.walArchiveDir.replaceAll("'", "''")}'`,
          ]
        : []),
      '',
    ].join('\n'),
  );
  files.push(tuning, local);
  if (as) await Promise.all(files.map((file) => chown(file, as.uid, as.gid)));
}

/**
 * Create the backup repository and its `wal/` directory before the server starts, owned by the
 * server's OS user: the archiver runs inside PostgreSQL, and basic_archive refuses a directory
 * that does not exist. 0700: the archive holds every row ever written.
 *
 * @example
 * await prepareWalArchive(defaultRepo(layout), await serverOsUser());
 */
export async function prepareWalArchive(repo: BackupRepo, as?: RunAs): Promise<void> {
  for (const dir of [repo.root, repo.wal]) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
      if (as) await chown(dir, as.uid, as.gid);
    } catch (error) {
      throw new JeexDbError('DATA_DIR_NOT_WRITABLE', `WAL archive directory ${dir}: cannot create it or give it to the server's OS user (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, {
        hint: `Fix the permissions of ${dir} (\`ls -ld ${dir}\`), or choose another place with --data-dir DIR.`,
        context: { path: dir },
        cause: error,
      });
    }
  }
}
