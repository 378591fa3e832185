import type { RunAs } from '../server/exec.ts';
import { recordVerification } from './record.ts';
import type { BackupRepo } from './repo.ts';
import { findBackup, newestBackup, readBackupCatalog } from './catalog.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, checkWalContinuity } from './wal.ts';
import { verifyBackupFiles, type VerifyFilesResult } from './verify-files.ts';
import { proveRestore, type RestoreProof } from './verify-restore.ts';
import { JeexDbError } from '../db/errors.ts';

export interface VerifyResult {
  id: string;
  ok: boolean;
  files: VerifyFilesResult;
  /** Absent when the files already failed (a restore would only fail later) or with `restore: false`. */
  restore?: RestoreProof;
  steps: string[];
  problems: string[];
}

/**
 * Verify a backup (default: the newest): its files against the manifest and the WAL it needs in
 * the archive, then the proof by restore (scratch server, amcheck, row counts). The outcome is
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
  let restore: RestoreProof | undefined;
  if (files.ok && options.restore !== false) {
    options.onProgress?.('restoring it into a scratch directory (amcheck, row counts)');
    restore = await proveRestore(repo, record, { sourceDataDir: options.sourceDataDir, ...(options.as ? { as: options.as } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    steps.push(...restore.steps);
    problems.push(...restore.problems);
  }
  const ok = problems.length === 0;
  await recordVerification(repo, record.id, { at: new Date().toISOString(), ok, steps, ...(ok ? {} : { error: problems.join('; ') }) });
  return { id: record.id, ok, files, ...(restore ? { restore } : {}), steps, problems };
}
