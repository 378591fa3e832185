import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../db/errors.ts';
import { backupDir, type BackupRecord, type BackupRepo } from './repo.ts';

/** The files of one backup in the repository. */
export const backupFiles = (repo: BackupRepo, id: string) => {
  const dir = backupDir(repo, id);
  return { dir, tarball: join(dir, 'base.tar.gz'), manifest: join(dir, 'backup_manifest'), record: join(dir, 'backup.json') };
};

/** Read `backup.json`; BACKUP_NOT_FOUND when the backup is not in the repository. */
export async function readBackupRecord(repo: BackupRepo, id: string): Promise<BackupRecord> {
  try {
    return JSON.parse(await readFile(backupFiles(repo, id).record, 'utf8')) as BackupRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new JeexDbError('BACKUP_NOT_FOUND', `There is no backup ${id} in ${repo.base}.`, {
      hint: 'Run `jeex-db backups list` to see the backups there are, or pass the right --repo.',
      context: { id, repo: repo.root },
    });
  }
}

/** Write `backup.json` atomically (a reader never sees half a record). */
export async function writeBackupRecord(repo: BackupRepo, record: BackupRecord, dir = backupDir(repo, record.id)): Promise<void> {
  const file = join(dir, 'backup.json');
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Record a verification result in `backup.json`. The hook for the full verification (files, then
 * the restore proof): whoever ran the steps calls this once with all of them.
 */
export async function recordVerification(repo: BackupRepo, id: string, verified: NonNullable<BackupRecord['verified']>): Promise<BackupRecord> {
  const record = await readBackupRecord(repo, id);
  const updated = { ...record, verified };
  await writeBackupRecord(repo, updated);
  return updated;
}
