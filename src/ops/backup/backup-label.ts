import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupRepo } from './repo.ts';
import { DEFAULT_WAL_SEGMENT_SIZE, parseLsn } from './wal.ts';

/**
 * What PostgreSQL itself wrote about a backup, as opposed to our `backup.json`:
 * `backup_label` (returned by pg_backup_stop, stored inside the tarball) and the backup history
 * file `<start WAL file>.<offset>.backup` the server archives at the stop. Both are lines of
 * `KEY: value`:
 *
 *     START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
 *     STOP WAL LOCATION: 0/2000138 (file 000000010000000000000002)     (history file only)
 *     CHECKPOINT LOCATION: 0/2000080
 *     START TIME: 2026-11-25 17:45:01 UTC
 *     LABEL: jeex-db 20261125T174501Z
 *     START TIMELINE: 1
 *     STOP TIME: 2026-11-25 17:45:09 UTC                               (history file only)
 */
export interface BackupLabel {
  startLsn: string;
  startWalFile: string;
  checkpointLsn?: string;
  /** As written, in the server's log_timezone (e.g. `2026-11-25 17:45:01 UTC`). */
  startTime?: string;
  label?: string;
  startTimeline?: number;
  /** History file only. */
  stopLsn?: string;
  stopWalFile?: string;
  stopTime?: string;
  stopTimeline?: number;
}

const location = (text: string, key: string) => new RegExp(`^${key}: ([0-9A-F]+/[0-9A-F]+) \\(file ([0-9A-F]{24})\\)$`, 'm').exec(text);
const field = (text: string, key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(text)?.[1];

/**
 * Parse a backup_label or backup history file; undefined when it has no START WAL LOCATION.
 *
 * @example
 * parseBackupLabel('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n')?.startLsn; // '0/2000028'
 */
export function parseBackupLabel(text: string): BackupLabel | undefined {
  const start = location(text, 'START WAL LOCATION');
  if (!start?.[1] || !start[2]) return undefined;
  const stop = location(text, 'STOP WAL LOCATION');
  const number = (key: string) => {
    const value = field(text, key);
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const label: BackupLabel = { startLsn: start[1], startWalFile: start[2] };
  const checkpoint = field(text, 'CHECKPOINT LOCATION');
  if (checkpoint) label.checkpointLsn = checkpoint;
  const startTime = field(text, 'START TIME');
  if (startTime) label.startTime = startTime;
  const name = field(text, 'LABEL');
  if (name !== undefined) label.label = name;
  const startTimeline = number('START TIMELINE');
  if (startTimeline !== undefined) label.startTimeline = startTimeline;
  if (stop?.[1] && stop[2]) {
    label.stopLsn = stop[1];
    label.stopWalFile = stop[2];
  }
  const stopTime = field(text, 'STOP TIME');
  if (stopTime) label.stopTime = stopTime;
  const stopTimeline = number('STOP TIMELINE');
  if (stopTimeline !== undefined) label.stopTimeline = stopTimeline;
  return label;
}

/**
 * A label's time (`2026-11-25 17:45:01 UTC`, or with a numeric zone) as a Date; undefined for a
 * zone given by name other than UTC/GMT (its offset cannot be known here).
 */
export function labelTime(text: string | undefined): Date | undefined {
  const m = text ? /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (UTC|GMT|[+-]\d{2}(?::?\d{2})?)$/.exec(text) : null;
  if (!m) return undefined;
  const zone = m[3] === 'UTC' || m[3] === 'GMT' ? 'Z' : (m[3] ?? '').length === 3 ? `${m[3]}:00` : (m[3] ?? '').replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2');
  const date = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The archive's name for a backup's history file: `<start WAL file>.<offset in the segment, 8 hex>.backup`. */
export function backupHistoryName(startWalFile: string, startLsn: string, segmentBytes = DEFAULT_WAL_SEGMENT_SIZE): string {
  const offset = parseLsn(startLsn) % BigInt(segmentBytes);
  return `${startWalFile}.${offset.toString(16).toUpperCase().padStart(8, '0')}.backup`;
}

/** The backup history file from the archive, parsed; undefined when it is not there. */
export async function readBackupHistory(repo: BackupRepo, startWalFile: string, startLsn: string, segmentBytes?: number): Promise<{ name: string; history: BackupLabel | undefined } | undefined> {
  const name = backupHistoryName(startWalFile, startLsn, segmentBytes);
  try {
    return { name, history: parseBackupLabel(await readFile(join(repo.wal, name), 'utf8')) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
