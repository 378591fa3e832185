import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_BYTES, parseEnvelopeHeader } from '../../crypto/envelope-stream.ts';
import type { EncryptionKey } from '../../crypto/keys.ts';
import { JeexDbError } from '../../core/errors.ts';
import { labelTime, parseBackupLabel, readBackupHistory } from './backup-label.ts';
import { renameDurable } from '../../platform/durable-fs.ts';
import { manifestChecksumValid, parseManifest } from './manifest.ts';
import { backupFiles, writeBackupRecord } from './record.ts';
import { parseBackupRecord } from './record-schema.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { scanTarball } from './verify-files.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, listWalArchive, walFileForLsn } from './wal.ts';

export interface RepairResult {
  id: string;
  /** False when backup.json was sound and `force` was not given: nothing was written. */
  repaired: boolean;
  /** What was wrong with the old record (`backup.json is missing`, `not valid JSON (...)`), or `sound`. */
  previous: string;
  /** Where the old file was kept (`backup.json.damaged-<time>`), when there was one. */
  keptAs?: string;
  record: BackupRecord;
  /** Things the rebuilt record cannot know (row counts), for the person reading the result. */
  notes: string[];
}

const refuse = (id: string, message: string, hint: string, context: Record<string, unknown> = {}) =>
  new JeexDbError('BACKUP_RECORD_DAMAGED', `Backup ${id}: ${message}`, { hint, context: { id, ...context } });

/** The id's start time (`20261125T174501Z` → 2026-11-25T17:45:01.000Z). */
function idStart(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) throw refuse(id, 'is not a backup id (expected the form 20261125T174501Z)', 'Pass the id `jeex-db backups list` shows.');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`;
}

/**
 * Rebuild a backup's `backup.json` from the backup itself, for a record that is damaged or
 * missing (`backups list` names them): the tarball is read to the end and every file checked
 * against `backup_manifest` (whose own checksum must hold), then the start LSN, WAL file,
 * timeline and label come from the tarball's `backup_label`, the stop LSN from the manifest's
 * WAL-Ranges, the stop time from the archived backup history file (else the tarball's time), the
 * system identifier and sizes from the manifest, the key id of an encrypted tarball from its
 * header. Row counts cannot be rebuilt: the record has none, so verify compares none. The old
 * file is kept as `backup.json.damaged-<time>`. A sound record is left alone unless `force`.
 *
 * @example
 * const { record, previous } = await repairBackupRecord(repo, '20261125T174501Z');
 */
export async function repairBackupRecord(repo: BackupRepo, id: string, options: { keys?: readonly EncryptionKey[]; force?: boolean; now?: () => Date } = {}): Promise<RepairResult> {
  const startedAt = idStart(id);
  const files = backupFiles(repo, id);
  const now = (options.now ?? (() => new Date()))();
  let previous = 'backup.json is missing';
  let oldText: string | undefined;
  try {
    oldText = await readFile(files.record, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (oldText !== undefined) {
    const parsed = parseBackupRecord(oldText, id);
    if (parsed.ok && !options.force) return { id, repaired: false, previous: 'sound', record: parsed.record, notes: ['backup.json is sound: nothing was changed (`--force` rebuilds it anyway; `jeex-db verify` compares it with the backup)'] };
    previous = parsed.ok ? 'sound' : `backup.json is damaged: ${parsed.problem}`;
  }

  const encrypted = await stat(`${files.tarball}.enc`).then(() => true, () => false);
  const plain = await stat(files.tarball).then(() => true, () => false);
  if (!encrypted && !plain) {
    throw new JeexDbError('BACKUP_NOT_FOUND', `There is no tarball (base.tar.gz or base.tar.gz.enc) in ${files.dir}: backup ${id} cannot be repaired.`, {
      hint: 'Run `jeex-db backups list` to see the backups there are, or pass the right --repo.',
      context: { id, repo: repo.root },
    });
  }
  const tarballFile = encrypted ? `${files.tarball}.enc` : files.tarball;
  const encryption = encrypted ? { algorithm: 'AES-256-GCM' as const, keyId: await envelopeKeyId(tarballFile) } : undefined;

  let manifestText: string;
  try {
    manifestText = await readFile(files.manifest, 'utf8');
  } catch (error) {
    throw refuse(id, `backup_manifest cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): without it nothing vouches for the tarball's files`, `Extract ${tarballFile} by hand if it is the only copy (tar -xzf), or take a new backup.`);
  }
  if (!manifestChecksumValid(manifestText).ok) throw refuse(id, "backup_manifest's checksum does not match its contents: it was changed or truncated", 'Take a new backup; extract the tarball by hand only if it is the only copy.');
  const manifest = parseManifest(manifestText);
  const range = manifest.walRanges[0];
  if (!range || manifest.walRanges.length !== 1) throw refuse(id, `backup_manifest has ${manifest.walRanges.length} WAL-Ranges, expected one`, 'Take a new backup.');

  const scan = await scanTarball(files.dir, { id, ...(encryption ? { encryption } : {}) }, manifest, options.keys);
  if (scan.problems.length > 0) {
    throw new JeexDbError('BACKUP_VERIFY_FAILED', `Backup ${id} cannot be repaired: its tarball does not match backup_manifest (${scan.problems.slice(0, 3).map((p) => p.message).join('; ')}${scan.problems.length > 3 ? `; ${scan.problems.length - 3} more` : ''}). No record was written.`, {
      hint: 'Take a new backup; this one does not hold what its manifest says.',
      context: { id, problems: scan.problems.map((p) => p.message) },
    });
  }
  const label = scan.backupLabel === undefined ? undefined : parseBackupLabel(scan.backupLabel);
  if (!label) throw refuse(id, 'the tarball holds no readable backup_label: nothing says where WAL replay must start', 'Take a new backup.');
  const timeline = label.startTimeline ?? range.timeline;
  if (timeline !== range.timeline) throw refuse(id, `backup_label says timeline ${timeline}, backup_manifest ${range.timeline}`, 'Take a new backup.');

  const segmentBytes = await archivedSegmentSize(repo, label.startWalFile);
  const history = await readBackupHistory(repo, label.startWalFile, label.startLsn, segmentBytes);
  const tarballInfo = await stat(tarballFile);
  // Without the history file, the tarball's time: it was closed after pg_backup_stop, so a
  // restore to a time never picks this backup for a time before its real end.
  const stopTime = labelTime(history?.history?.stopTime) ?? tarballInfo.mtime;
  const sources = ['backup_label (in the tarball)', 'backup_manifest', ...(history ? [`${history.name} (the archive)`] : []), ...(encryption ? ['the tarball\'s JEEXENC1 header'] : []), ...(scan.pgVersion ? ['PG_VERSION (in the tarball)'] : [])];

  const record: BackupRecord = {
    id,
    format: 'tar.gz',
    ...(encryption ? { encryption } : {}),
    startedAt,
    stoppedAt: stopTime.toISOString(),
    startLsn: label.startLsn,
    stopLsn: range.endLsn,
    timeline,
    startWalFile: label.startWalFile,
    stopWalFile: walFileForLsn(range.endLsn, timeline, segmentBytes),
    systemIdentifier: manifest.systemIdentifier,
    serverVersion: scan.pgVersion ?? 'unknown',
    sizeBytes: manifest.files.reduce((sum, f) => sum + f.size, 0),
    storedBytes: tarballInfo.size,
    files: manifest.files.length,
    rowCounts: {},
    rowCountsExact: false,
    ...(label.label === undefined ? {} : { label: label.label }),
    walSegmentBytes: segmentBytes,
    manifestChecksum: manifest.checksum,
    repaired: { at: now.toISOString(), problem: previous, sources },
  };

  let keptAs: string | undefined;
  if (oldText !== undefined) {
    keptAs = join(files.dir, `backup.json.damaged-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`);
    await renameDurable(files.record, keptAs);
  }
  await writeBackupRecord(repo, record);
  return {
    id,
    repaired: true,
    previous,
    ...(keptAs ? { keptAs } : {}),
    record,
    notes: [
      `rebuilt from ${sources.join(', ')}; the tarball's ${scan.filesChecked} files match backup_manifest`,
      'row counts at backup time are not known: `jeex-db verify` runs amcheck but compares no row counts for this backup',
    ],
  };
}

/** The key id in an encrypted tarball's header (`JEEXENC1`, see envelope-stream.ts). */
async function envelopeKeyId(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
    return parseEnvelopeHeader(header.subarray(0, bytesRead), file).keyId;
  } finally {
    await handle.close();
  }
}

/** The archive's segment size: that of the backup's start segment there (all are alike), else the default. */
async function archivedSegmentSize(repo: BackupRepo, startWalFile: string): Promise<number> {
  const start = await stat(join(repo.wal, startWalFile)).catch(() => undefined);
  if (start?.isFile() && start.size > 0) return start.size;
  const [any] = (await listWalArchive(repo)).segments;
  const other = any ? await stat(join(repo.wal, any)).catch(() => undefined) : undefined;
  return other?.isFile() && other.size > 0 ? other.size : DEFAULT_WAL_SEGMENT_SIZE;
}
