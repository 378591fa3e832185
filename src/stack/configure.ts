import { chmod, chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JeexDbError } from '../core/errors.ts';
import type { BackupRepo } from '../ops/backup/repo.ts';
import type { LocalLayout } from '../local/layout.ts';
import { renderPgHba, sslSettings } from '../ops/tls/hba.ts';
import type { RunAs } from '../platform/exec.ts';
import { renderConf, type Setting } from '../cluster/tuning.ts';

/** The package's `ops/` directory (from src/server or dist/server alike). */
export const opsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ops');

export interface LocalServerSettings {
  host: string;
  port: number;
  tuning: Setting[];
  machine: string;
  /** Where basic_archive copies finished WAL segments (`<repo>/wal`); see prepareWalArchive. */
  walArchiveDir?: string;
  /** The server's certificate and key; absent: no TLS (`up --no-tls`), pg_hba.conf then accepts plain TCP. */
  tls?: { certFile: string; keyFile: string };
}

/**
 * Write the cluster's configuration on every start: ops/postgresql.conf as it is, jeex-tuning.conf
 * derived from this machine, and pg_hba.conf and jeex-local.conf (see writeAccessConfig).
 * postgresql.local.conf is the user's and is never touched.
 */
export async function writeServerConfig(layout: LocalLayout, settings: LocalServerSettings, as?: RunAs): Promise<void> {
  const conf = join(layout.pgdata, 'postgresql.conf');
  await copyFile(join(opsDir, 'postgresql.conf'), conf);
  const tuning = join(layout.pgdata, 'jeex-tuning.conf');
  await writeFile(
    tuning,
    renderConf(settings.tuning, [
      'Written by `jeex-db up` on every start; do not edit (use postgresql.local.conf).',
      `Derived from this machine: ${settings.machine}.`,
      'Explained by `jeex-db config --explain`.',
    ]),
  );
  if (as) await Promise.all([conf, tuning].map((file) => chown(file, as.uid, as.gid)));
  await writeAccessConfig(layout, settings, as);
}

/**
 * Write what a reload applies to a running server: pg_hba.conf from ops/pg_hba.conf (TLS only,
 * unless `tls` is absent) and jeex-local.conf with the port, the TLS files and the WAL archive
 * directory. Returns whether either file changed.
 */
export async function writeAccessConfig(layout: LocalLayout, settings: Omit<LocalServerSettings, 'tuning' | 'machine'>, as?: RunAs): Promise<boolean> {
  const hba = renderPgHba(await readFile(join(opsDir, 'pg_hba.conf'), 'utf8'), { tls: settings.tls !== undefined });
  const local = [
    '# Written by `jeex-db up` on every start: where this local cluster listens.',
    `listen_addresses = '${settings.host}'`,
    `port = ${settings.port}`,
    "unix_socket_directories = ''",
    '# The logging collector appends to the file `pg_ctl -l` started the server with (and server.json):',
    '# one log per cluster, which `up`, `restore` and `jeex-db audit` read.',
    "log_filename = 'server.log'",
    ...sslSettings(settings.tls),
    ...(settings.walArchiveDir
      ? [
          '# The WAL archive of this cluster: <backup repository>/wal (archive_mode and archive_library',
          '# are set in postgresql.conf).',
          `basic_archive.archive_directory = '${settings.walArchiveDir.replaceAll("'", "''")}'`,
        ]
      : []),
    '',
  ].join('\n');
  let changed = false;
  for (const [name, text] of [['pg_hba.conf', hba], ['jeex-local.conf', local]] as const) {
    const file = join(layout.pgdata, name);
    const before = await readFile(file, 'utf8').catch(() => undefined);
    if (before === text) continue;
    changed = true;
    await writeFile(file, text);
    if (as) await chown(file, as.uid, as.gid);
  }
  return changed;
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

/** The port jeex-local.conf gave the cluster at its last start, or undefined (never configured). */
export async function configuredPort(layout: LocalLayout): Promise<number | undefined> {
  const text = await readFile(join(layout.pgdata, 'jeex-local.conf'), 'utf8').catch(() => '');
  const port = Number(/^port = (\d+)$/m.exec(text)?.[1]);
  return Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
}
