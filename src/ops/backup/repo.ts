import { join } from 'node:path';
import type { LocalLayout } from '../../local/layout.ts';

/**
 * The backup repository: one directory holding the WAL archive and the base backups.
 *
 *     <repo>/wal/                      archived WAL segments and .history files (basic_archive)
 *     <repo>/base/<id>/base.tar.gz     the data directory as it was copied, backup_label included
 *                                      (base.tar.gz.enc when encrypted: see BackupRecord.encryption)
 *     <repo>/base/<id>/backup_manifest PostgreSQL's manifest format (version 2, SHA-256 per file)
 *     <repo>/base/<id>/backup.json     our record of it (BackupRecord)
 *
 * The server's OS user writes `wal/` (the archiver runs inside PostgreSQL), so the repository is
 * owned by that user. The default is `backups/` in the local cluster's directory (`.jeex-db/backups`).
 */
export interface BackupRepo {
  root: string;
  wal: string;
  base: string;
}

export function backupRepo(root: string): BackupRepo {
  return { root, wal: join(root, 'wal'), base: join(root, 'base') };
}

/** The local cluster's default repository. */
export function defaultRepo(layout: LocalLayout): BackupRepo {
  return backupRepo(join(layout.root, 'backups'));
}

export const backupDir = (repo: BackupRepo, id: string): string => join(repo.base, id);

/** A backup's id: its start time in UTC, sortable, e.g. `20261125T174501Z`. */
export function backupId(startedAt: Date): string {
  return startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** What `backup.json` holds for one base backup. */
export interface BackupRecord {
  id: string;
  /** A gzip tarball: `base.tar.gz`, or `base.tar.gz.enc` when `encryption` is set. */
  format: 'tar.gz';
  /**
   * Set when the tarball is encrypted (`base.tar.gz.enc`: gzip, then AES-256-GCM in 64 KiB
   * chunks, see src/crypto/envelope-stream.ts) with the key of this id. The manifest's checksums
   * are those of the original files either way.
   */
  encryption?: { algorithm: 'AES-256-GCM'; keyId: string };
  startedAt: string;
  stoppedAt: string;
  /** `pg_backup_start` / `pg_backup_stop` LSNs, and the timeline. */
  startLsn: string;
  stopLsn: string;
  timeline: number;
  /** The WAL files the restore needs at least: from the start segment to the stop segment. */
  startWalFile: string;
  stopWalFile: string;
  systemIdentifier: string;
  serverVersion: string;
  /** Bytes of the data files copied, and of base.tar.gz (or base.tar.gz.enc). */
  sizeBytes: number;
  storedBytes: number;
  files: number;
  /** Rows per application table at backup time (from the backup's own snapshot), for verify. */
  rowCounts: Record<string, number>;
  /**
   * Whether the row counts are exactly what the backup holds: no other transaction committed or
   * aborted between the count (just before `pg_backup_stop`) and the stop. False: verify reads the
   * counts but cannot compare them exactly. Absent in records written before this field existed.
   */
  rowCountsExact?: boolean;
  /** The database the row counts were read in (the application database). */
  database?: string;
  /** The label given to `pg_backup_start`. */
  label?: string;
  /** The server's WAL segment size in bytes (for naming the segments between start and stop). */
  walSegmentBytes?: number;
  /** SHA-256 of `backup_manifest`'s contents, as its last line says (Manifest-Checksum). */
  manifestChecksum?: string;
  /**
   * Set when `jeex-db backups repair` rebuilt this record from the backup itself (the tarball's
   * backup_label and PG_VERSION, backup_manifest, the archived backup history file): what was
   * wrong with the old one and what the fields came from. Row counts are not known then.
   */
  repaired?: { at: string; problem: string; sources: string[] };
  /** Filled by verify. */
  verified?: { at: string; ok: boolean; steps: string[]; error?: string };
}
