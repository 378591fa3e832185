import { resolve } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { localLayout } from '../../local/layout.ts';
import { localUrl, readLocalState } from '../../local/state.ts';
import { backupRepo, defaultRepo, type BackupRepo } from './repo.ts';

export interface BackupTargetInput {
  /** The local cluster's directory (`.jeex-db`). */
  dataDir: string;
  /** The repository; default the local cluster's (`<dataDir>/backups`). */
  repo?: string;
  /** Another server on this machine (a superuser URL); then `repo` is needed unless a local cluster has one. */
  url?: string;
}

export interface BackupTarget {
  /** The connection `takeBaseBackup` uses. */
  url: string;
  /** The data directory to copy; absent with `url`: the server's own `data_directory`. */
  dataDir?: string;
  repo: BackupRepo;
}

/**
 * Where to back up from and to: the local cluster of `dataDir` (its backup role, its data
 * directory, its default repository), or `url` (the server's own data_directory) with `repo`.
 * INVALID_CONFIG for `url` without a repository, CONNECTION_FAILED when there is no local cluster.
 *
 * @example
 * const target = resolveBackupTarget({ dataDir: '.jeex-db' });
 * await takeBaseBackup(connect(target.url, { max: 2 }), { repo: target.repo, dataDir: target.dataDir });
 */
export function resolveBackupTarget(input: BackupTargetInput): BackupTarget {
  const layout = localLayout(input.dataDir);
  const state = readLocalState(layout);
  const repo = input.repo ? backupRepo(resolve(input.repo)) : state ? defaultRepo(layout) : undefined;
  if (input.url) {
    if (!repo) throw new JeexDbError('INVALID_CONFIG', `--url needs --repo DIR: there is no local cluster in ${layout.root} whose repository could be used.`, { hint: 'Pass --repo DIR (a directory on this machine, where the server archives its WAL).' });
    return { url: input.url, repo };
  }
  // The backup role (pg_backup_start/stop, pg_read_all_data); the superuser for a cluster whose
  // secrets.json predates it (until its next `jeex-db up`).
  const url = state ? (localUrl(layout, 'backup', { database: state.database }) ?? localUrl(layout, 'superuser', { database: state.database })) : undefined;
  if (!url || !repo) {
    throw new JeexDbError('CONNECTION_FAILED', `There is no local cluster in ${layout.root}.`, {
      hint: 'Start one with `jeex-db up`, pass --data-dir DIR, or pass --url URL and --repo DIR for another server on this machine.',
    });
  }
  return { url, dataDir: layout.pgdata, repo };
}
