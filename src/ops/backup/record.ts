import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { writeFileDurable } from '../../platform/durable-fs.ts';
import { parseBackupRecord } from './record-schema.ts';
import { backupDir, type BackupRecord, type BackupRepo } from './repo.ts';

/** The files of one backup in the repository. */
export const backupFiles = (repo: BackupRepo, id: string) => {
  const dir = backupDir(repo, id);
  return { dir, tarball: join(dir, 'base.tar.gz'), manifest: join(dir, 'backup_manifest'), record: join(dir, 'backup.json') };
};

/**
 * Read `backup.json`; BACKUP_NOT_FOUND when the backup is not in the repository,
 * BACKUP_RECORD_DAMAGED (naming the file and `jeex-db backups repair`) when it cannot be parsed.
 */
export async function readBackupRecord(repo: BackupRepo, id: string): Promise<BackupRecord> {
  const file = backupFiles(repo, id).record;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new JeexDbError('BACKUP_NOT_FOUND', `There is no backup ${id} in ${repo.base}.`, {
      hint: 'Run `jeex-db backups list` to see the backups there are, or pass the right --repo.',
      context: { id, repo: repo.root },
    });
  }
  const parsed = parseBackupRecord(text, id);
  if (parsed.ok) return parsed.record;
  throw new JeexDbError('BACKUP_RECORD_DAMAGED', `Backup ${id} cannot be used as it is: ${file} is damaged: ${parsed.problem}.`, {
    hint: `Rebuild the record from the tarball, its backup_manifest and the WAL archive with \`jeex-db backups repair ${id}\`.`,
    context: { id, recordFile: file, problem: parsed.problem, repo: repo.root },
  });
}

/** Write `backup.json` atomically and durably (a reader or a crash never sees half a record). */
export async function writeBackupRecord(repo: BackupRepo, record: BackupRecord, dir = backupDir(repo, record.id)): Promise<void> {
  await writeFileDurable(join(dir, 'backup.json'), `${JSON.stringify(record, null, 2)}\n`, 0o600);
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
