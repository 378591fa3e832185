import { labelTime, type BackupLabel } from './backup-label.ts';
import type { Manifest } from './manifest.ts';
import { backupId, type BackupRecord } from './repo.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, parseLsn, walFileForLsn } from './wal.ts';

/** What the backup itself says, to hold `backup.json` against. */
export interface BackupFacts {
  /** `backup_label` from inside the tarball (undefined: the tarball has none, or it was not read). */
  label?: BackupLabel;
  manifest?: Manifest;
  /** The backup history file from the archive (`<start WAL>.<offset>.backup`), when it is there. */
  history?: { name: string; history: BackupLabel | undefined };
}

const sameLsn = (a: string, b: string) => {
  try {
    return parseLsn(a) === parseLsn(b);
  } catch {
    return false;
  }
};

/**
 * The fields of `backup.json` that restore, verify and prune rely on, compared with what the
 * server wrote (backup_label in the tarball, the manifest's WAL-Ranges, the archived backup
 * history file): one sentence per mismatch, naming the field, its value
 * and what the backup says instead. An empty list: the record agrees with its backup.
 *
 * @example
 * recordMismatches({ ...record, stopLsn: '0/9000000' }, facts);
 * // ['backup.json says stopLsn 0/9000000, but backup_manifest\'s WAL-Ranges ends at 0/2000138 ...']
 */
export function recordMismatches(record: BackupRecord, facts: BackupFacts): string[] {
  const problems: string[] = [];
  const says = (field: string, value: unknown, source: string, truth: unknown) =>
    problems.push(`backup.json says ${field} ${String(value)}, but ${source} says ${String(truth)}`);
  if (backupId(new Date(record.startedAt)) !== record.id) says('startedAt', record.startedAt, 'the backup id (its start time)', record.id);

  const { label, manifest, history } = facts;
  if (!label) problems.push('the tarball holds no backup_label: nothing says where WAL replay must start');
  else {
    if (!sameLsn(label.startLsn, record.startLsn)) says('startLsn', record.startLsn, "backup_label's START WAL LOCATION", label.startLsn);
    if (label.startWalFile !== record.startWalFile) says('startWalFile', record.startWalFile, "backup_label's START WAL LOCATION", label.startWalFile);
    if (label.startTimeline !== undefined && label.startTimeline !== record.timeline) says('timeline', record.timeline, "backup_label's START TIMELINE", label.startTimeline);
    if (record.label !== undefined && label.label !== undefined && label.label !== record.label) says('label', JSON.stringify(record.label), "backup_label's LABEL", JSON.stringify(label.label));
    const started = labelTime(label.startTime);
    // startedAt is taken just before pg_backup_start, START TIME after its checkpoint.
    if (started && Date.parse(record.startedAt) > started.getTime() + 1000) says('startedAt', record.startedAt, "backup_label's START TIME", label.startTime);
  }

  if (manifest) {
    const [range, ...more] = manifest.walRanges;
    if (!range || more.length > 0) problems.push(`backup_manifest has ${manifest.walRanges.length} WAL-Ranges, a backup of a primary has one`);
    else {
      if (!sameLsn(range.startLsn, record.startLsn)) says('startLsn', record.startLsn, "backup_manifest's WAL-Ranges", `Start-LSN ${range.startLsn}`);
      if (!sameLsn(range.endLsn, record.stopLsn)) says('stopLsn', record.stopLsn, "backup_manifest's WAL-Ranges", `End-LSN ${range.endLsn}`);
      if (range.timeline !== record.timeline) says('timeline', record.timeline, "backup_manifest's WAL-Ranges", `Timeline ${range.timeline}`);
      try {
        const stopWalFile = walFileForLsn(range.endLsn, range.timeline, record.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE);
        if (stopWalFile !== record.stopWalFile) says('stopWalFile', record.stopWalFile, "backup_manifest's End-LSN", `${range.endLsn} (file ${stopWalFile})`);
      } catch {
        problems.push(`backup_manifest's End-LSN ${range.endLsn} is not an LSN`);
      }
    }
    if (manifest.files.length !== record.files) says('files', record.files, 'backup_manifest', `${manifest.files.length} files`);
    const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
    if (bytes !== record.sizeBytes) says('sizeBytes', record.sizeBytes, 'backup_manifest', `${bytes} bytes of files`);
  }

  const stop = history?.history;
  if (stop?.stopLsn && !sameLsn(stop.stopLsn, record.stopLsn)) says('stopLsn', record.stopLsn, `the archive's backup history file ${history?.name ?? ''}`, `STOP WAL LOCATION ${stop.stopLsn}`);
  if (stop && !sameLsn(stop.startLsn, record.startLsn)) says('startLsn', record.startLsn, `the archive's backup history file ${history?.name ?? ''}`, `START WAL LOCATION ${stop.startLsn}`);
  const stopped = labelTime(stop?.stopTime);
  // A restore to a time picks the newest backup that stopped before it: a stoppedAt earlier than
  // the real stop would pick a backup that cannot reach the target.
  if (stopped && Date.parse(record.stoppedAt) < stopped.getTime() - 1000) says('stoppedAt', record.stoppedAt, `the archive's backup history file ${history?.name ?? ''}`, `STOP TIME ${stop?.stopTime ?? ''}`);

  return problems;
}
