import type { RunAs } from '../../platform/exec.ts';
import { describeArchivedWal, readArchivedWal } from './archived-wal.ts';
import { recordVerification } from './record.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { findBackup, newestBackup, readBackupCatalog } from './catalog.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, checkWalContinuity } from './wal.ts';
import type { WalDamage } from './wal-reader.ts';
import { verifyBackupFiles, type VerifyFilesResult } from './verify-files.ts';
import { proveRestore, type RestoreProof } from './verify-restore.ts';
import { JeexDbError } from '../../core/errors.ts';

export interface VerifyResult {
  id: string;
  ok: boolean;
  files: VerifyFilesResult;
  /** Absent when the files already failed (a restore would only fail later) or with `restore: false`. */
  restore?: RestoreProof;
  steps: string[];
  problems: string[];
  /** The first damage in the archived WAL from the backup's start to the newest segment (a gap is in `problems`). */
  walDamage?: WalDamage;
}

/**
 * Verify a backup (default: the newest): its files against the manifest, the WAL it needs in
 * the archive, every WAL record from its start to the newest archived segment (page headers,
 * record chain, CRC-32C: see readArchivedWal), then the proof by restore (scratch server, amcheck, row counts). The outcome is
 * recorded in its backup.json (`verified`), which `backups list` shows.
 *
 * @example
 * const result = await verifyBackup(repo, undefined, { sourceDataDir: '.jeex-db', as });
 * result.ok; // true
 */
export async function verifyBackup(
  repo: BackupRepo,
  id: string | undefined,
  options: { sourceDataDir: string; as?: RunAs; restore?: boolean; onProgress?: (message: string) => void },
): Promise<VerifyResult> {
  const catalog = await readBackupCatalog(repo);
  // A damaged record is BACKUP_RECORD_DAMAGED naming the file, not "no backup".
  const record = id ? findBackup(repo, catalog, id) : newestBackup(repo, catalog);
  if (!record) {
    throw new JeexDbError('BACKUP_NOT_FOUND', id ? `no complete backup ${id} in ${repo.base}` : `no backup in ${repo.base} to verify`, {
      hint: 'List them with `jeex-db backups list`, or take one with `jeex-db backup`.',
    });
  }
  options.onProgress?.(`checking the files of ${record.id} against its manifest`);
  const files = await verifyBackupFiles(repo, record.id);
  const steps = [...files.steps];
  const problems = files.problems.map((p) => p.message);
  // Point-in-time recovery from this backup needs every segment after it too, up to the newest.
  const onward = await checkWalContinuity(repo, record.startWalFile, undefined, record.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE);
  if (onward.ok) steps.push(`WAL continuous from ${record.startWalFile} to the newest archived segment ${onward.newest ?? record.stopWalFile}`);
  else problems.push(`the WAL archive has a gap after the backup: ${onward.missing.slice(0, 5).join(', ')}${onward.missing.length > 5 ? ` and ${onward.missing.length - 5} more` : ''} missing; point-in-time recovery cannot pass it`);
  options.onProgress?.('reading every archived WAL record from the backup\'s start');
  const walDamage = await checkArchivedRecords(repo, record, steps, problems);
  let restore: RestoreProof | undefined;
  if (files.ok && options.restore !== false) {
    options.onProgress?.('restoring it into a scratch directory (amcheck, row counts)');
    restore = await proveRestore(repo, record, { sourceDataDir: options.sourceDataDir, ...(options.as ? { as: options.as } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    steps.push(...restore.steps);
    problems.push(...restore.problems);
  }
  const ok = problems.length === 0;
  await recordVerification(repo, record.id, { at: new Date().toISOString(), ok, steps, ...(ok ? {} : { error: problems.join('; ') }) });
  return { id: record.id, ok, files, ...(restore ? { restore } : {}), steps, problems, ...(walDamage ? { walDamage } : {}) };
}

/** Every WAL record a restore from the backup would replay, read and checked; the damage, if any. */
async function checkArchivedRecords(repo: BackupRepo, record: BackupRecord, steps: string[], problems: string[]): Promise<WalDamage | undefined> {
  const wal = await readArchivedWal(repo, record);
  const described = describeArchivedWal(wal, record);
  steps.push(...described.steps);
  problems.push(...described.problems);
  return wal.damage && wal.damage.kind !== 'missing' ? wal.damage : undefined;
}
