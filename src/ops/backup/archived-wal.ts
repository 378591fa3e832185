import type { BackupRecord, BackupRepo } from './repo.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, checkWalContinuity, formatLsn, parseLsn, parseWalName, segmentNumber } from './wal.ts';
import { readWal, type WalDamage, type WalReadResult } from './wal-reader.ts';

/** A backup's WAL in the archive, read record by record from its start to the newest segment. */
export interface ArchivedWal {
  /** The segments recovery from this backup reads, oldest first (the timeline path to the newest). */
  segments: string[];
  /** The newest archived segment on that path. */
  newest?: string;
  /** The end of that newest segment: how far the archive's WAL could reach at most. */
  archiveEnd?: string;
  /** The reader's outcome; undefined when no segment of the path is archived. */
  read?: WalReadResult;
  /** The first damage (a missing segment on the path included). */
  damage?: WalDamage;
}

/**
 * Read every WAL record a restore from `record` would replay: from the backup's start LSN
 * through the newest archived segment on its timeline path (following `.history` files as
 * recovery with `recovery_target_timeline = 'latest'` does), checking page headers and CRCs.
 *
 * @example
 * const wal = await readArchivedWal(repo, record);
 * if (wal.damage) console.error(`${wal.damage.segment}: ${wal.damage.problem}`);
 * wal.read?.endLsn; // where recovery from this backup stops: '0/B000000'
 */
export async function readArchivedWal(repo: BackupRepo, record: BackupRecord, options: { signal?: AbortSignal } = {}): Promise<ArchivedWal> {
  const segmentBytes = record.walSegmentBytes ?? DEFAULT_WAL_SEGMENT_SIZE;
  const continuity = await checkWalContinuity(repo, record.startWalFile, undefined, segmentBytes);
  const newestName = continuity.newest ? parseWalName(continuity.newest) : undefined;
  const archiveEnd = newestName ? formatLsn((segmentNumber(newestName, segmentBytes) + 1n) * BigInt(segmentBytes)) : undefined;
  const base = { segments: continuity.path, ...(continuity.newest ? { newest: continuity.newest } : {}), ...(archiveEnd ? { archiveEnd } : {}) };
  if (!continuity.newest) return base;
  const read = await readWal({
    dir: repo.wal,
    segments: continuity.path,
    ...(startsIn(record.startLsn, record.startWalFile, segmentBytes) ? { from: record.startLsn } : {}),
    segmentBytes,
    ...(/^\d+$/.test(record.systemIdentifier) ? { systemIdentifier: record.systemIdentifier } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { ...base, read, ...(read.damage ? { damage: read.damage } : {}) };
}

/** The LSN lies in that segment (else the read starts at the segment's first byte). */
function startsIn(lsn: string, segment: string, segmentBytes: number): boolean {
  const name = parseWalName(segment);
  try {
    return name !== undefined && parseLsn(lsn) / BigInt(segmentBytes) === segmentNumber(name, segmentBytes);
  } catch {
    return false;
  }
}

/** The damage is before the backup's stop LSN: the backup itself cannot become consistent. */
export function damagesBackup(damage: WalDamage, record: BackupRecord): boolean {
  return parseLsn(damage.lsn) < parseLsn(record.stopLsn);
}

/**
 * What verify says about the archived WAL: one step when it reads as valid to the end, else the
 * problem naming the segment, offset and LSN, what is lost and what to do. A missing segment is
 * left to the continuity check, which names every gap.
 */
export function describeArchivedWal(wal: ArchivedWal, record: BackupRecord): { steps: string[]; problems: string[] } {
  const read = wal.read;
  if (!read) return { steps: [], problems: [] };
  const rate = read.durationMs > 0 ? ` at ${Math.round(read.bytesRead / 2 ** 20 / (read.durationMs / 1000))} MiB/s` : '';
  const summary = `${read.records} WAL records in ${read.segmentsRead} segment(s) read from ${read.startLsn} to ${read.endLsn}${rate}`;
  const damage = wal.damage;
  if (!damage) return { steps: [`${summary}: page headers, record chain and CRC-32C valid to the end of ${wal.newest ?? 'the archive'}`], problems: [] };
  if (damage.kind === 'missing') return { steps: [`${summary}: valid up to the missing segment ${damage.segment}`], problems: [] };
  return { steps: [`${summary}: damage found`], problems: [walDamageMessage(damage, read, record)] };
}

/** One sentence for a WAL damage: where, what is wrong, what cannot be recovered, what to do. */
export function walDamageMessage(damage: WalDamage, read: WalReadResult, record: BackupRecord): string {
  const where = `WAL segment ${damage.segment} is damaged at offset ${damage.offset} (LSN ${damage.lsn}): ${damage.problem}`;
  const lost = damagesBackup(damage, record)
    ? `backup ${record.id} cannot be restored at all (its WAL up to its stop LSN ${record.stopLsn} is damaged)`
    : `recovery from backup ${record.id} stops at ${read.endLsn}: whatever was committed after it cannot be recovered from this archive`;
  return `${where}; ${lost}. Take a new base backup now (\`jeex-db backup\`), and keep ${damage.segment} for forensics`;
}
