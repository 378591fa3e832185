import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readBackupCatalog, type DamagedBackup } from './catalog.ts';
import type { BackupRepo } from './repo.ts';
import { listWalArchive } from './wal.ts';

export interface BackupListEntry {
  id: string;
  startedAt: string;
  stoppedAt: string;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  /** Bytes of the data files, and of what the repository stores (base.tar.gz or base.tar.gz.enc). */
  sizeBytes: number;
  storedBytes: number;
  files: number;
  /** `unverified` until verify ran; then the outcome of the last run. */
  verified: 'unverified' | 'ok' | 'failed';
  verifiedAt?: string;
  encrypted: boolean;
  /** The id of the key an encrypted backup needs (`jeex-db keys generate` prints ids). */
  keyId?: string;
}

export interface BackupList {
  repo: string;
  /** Complete backups, oldest first (`<id>.partial` directories of unfinished ones are left out). */
  backups: BackupListEntry[];
  /**
   * Backups whose tarball is there but whose `backup.json` is damaged or missing: not usable until
   * `jeex-db backups repair <id>` rebuilds the record (the CLI exits 48 while there are any).
   */
  damaged: DamagedBackup[];
  /**
   * The times a point-in-time restore can reach: from the end of the oldest backup to the newest
   * archived WAL segment (its modification time, i.e. when it was archived). Absent without backups.
   */
  window?: { earliest: string; latest: string };
  /** How many WAL segments the archive holds. */
  walSegments: number;
}

/**
 * The backups in a repository and the recovery window, and the backups whose record is damaged
 * (listed apart, never left out). Reads only.
 *
 * @example
 * const { backups, window } = await listBackups(defaultRepo(localLayout()));
 */
export async function listBackups(repo: BackupRepo): Promise<BackupList> {
  const { backups: records, damaged } = await readBackupCatalog(repo);
  const backups = records.map((r): BackupListEntry => ({
    id: r.id,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    startLsn: r.startLsn,
    stopLsn: r.stopLsn,
    timeline: r.timeline,
    sizeBytes: r.sizeBytes,
    storedBytes: r.storedBytes,
    files: r.files,
    verified: r.verified ? (r.verified.ok ? 'ok' : 'failed') : 'unverified',
    ...(r.verified ? { verifiedAt: r.verified.at } : {}),
    encrypted: Boolean(r.encryption),
    ...(r.encryption ? { keyId: r.encryption.keyId } : {}),
  }));
  const wal = await listWalArchive(repo);
  const newest = wal.segments.at(-1);
  const newestTime = newest ? (await stat(join(repo.wal, newest)).catch(() => undefined))?.mtime : undefined;
  const first = backups[0];
  const window = first ? { earliest: first.stoppedAt, latest: newestTime && newestTime.toISOString() > first.stoppedAt ? newestTime.toISOString() : first.stoppedAt } : undefined;
  return { repo: repo.root, backups, damaged, ...(window ? { window } : {}), walSegments: wal.segments.length };
}
