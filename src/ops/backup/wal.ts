import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { archiveFailing, archiverStats } from './archiver.ts';
import type { BackupRepo } from './repo.ts';
import { JeexDbError } from '../../core/errors.ts';
import { sleep } from '../../core/sleep.ts';

/** PostgreSQL's default WAL segment size (initdb --wal-segsize), 16 MiB. */
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 2 ** 20;

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;

/** A WAL segment file name taken apart: `000000010000000200000003` is timeline 1, log 2, seg 3. */
export interface WalName {
  timeline: number;
  log: number;
  seg: number;
}

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const segmentsPerLog = (segSize: number): bigint => 0x1_0000_0000n / BigInt(segSize);

/**
 * Parse a segment file name (24 hex digits); undefined for anything else (`.history`,
 * `.partial`, `.backup` files and temporary files are not segments).
 *
 * @example
 * parseWalName('000000010000000000000003'); // { timeline: 1, log: 0, seg: 3 }
 */
export function parseWalName(name: string): WalName | undefined {
  const match = SEGMENT.exec(name);
  if (!match) return undefined;
  return { timeline: Number.parseInt(match[1] ?? '', 16), log: Number.parseInt(match[2] ?? '', 16), seg: Number.parseInt(match[3] ?? '', 16) };
}

/** @example formatWalName({ timeline: 1, log: 0, seg: 3 }); // '000000010000000000000003' */
export function formatWalName(name: WalName): string {
  return hex8(name.timeline) + hex8(name.log) + hex8(name.seg);
}

/** The segment's number counted from the start of WAL (log × segments per log + seg). */
export function segmentNumber(name: WalName, segSize = DEFAULT_WAL_SEGMENT_SIZE): bigint {
  return BigInt(name.log) * segmentsPerLog(segSize) + BigInt(name.seg);
}

/** The file name of segment number `segno` on `timeline`. */
export function walNameOf(timeline: number, segno: bigint, segSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  const perLog = segmentsPerLog(segSize);
  return formatWalName({ timeline, log: Number(segno / perLog), seg: Number(segno % perLog) });
}

/**
 * An LSN as PostgreSQL prints it (`16/B374D848`) to a byte position.
 *
 * @example parseLsn('0/1000000'); // 16777216n
 */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(lsn)} (expected two hex numbers, e.g. 0/16B3748)`);
  return (BigInt(`0x${match[1] ?? '0'}`) << 32n) | BigInt(`0x${match[2] ?? '0'}`);
}

export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/**
 * The WAL file name for an LSN, as `pg_walfile_name()` computes it (PostgreSQL 16 and later): the
 * segment the byte at `lsn` is in, so an LSN exactly on a segment boundary is the first byte of
 * the next segment. `{ atBoundary: 'previous' }` gives the segment a record ENDING at `lsn` is
 * in (the server's XLByteToPrevSeg), which is the last file a backup's stop LSN needs.
 *
 * @example
 * walFileForLsn('0/3000000', 1); // '000000010000000000000003'
 * walFileForLsn('0/3000000', 1, DEFAULT_WAL_SEGMENT_SIZE, { atBoundary: 'previous' }); // '...02'
 */
export function walFileForLsn(
  lsn: string | bigint,
  timeline: number,
  segSize = DEFAULT_WAL_SEGMENT_SIZE,
  options: { atBoundary?: 'next' | 'previous' } = {},
): string {
  const position = typeof lsn === 'bigint' ? lsn : parseLsn(lsn);
  // XLByteToPrevSeg works on uint64: LSN 0/0 wraps around, as it does in the server.
  const byte = options.atBoundary === 'previous' ? BigInt.asUintN(64, position - 1n) : position;
  return walNameOf(timeline, byte / BigInt(segSize), segSize);
}

/** The server's WAL segment size in bytes (`wal_segment_size`, fixed at initdb). */
export async function walSegmentSize(sql: Sql): Promise<number> {
  const [row] = await sql<{ bytes: string }[]>`SELECT setting AS bytes FROM pg_settings WHERE name = 'wal_segment_size'`;
  const bytes = Number(row?.bytes);
  return Number.isFinite(bytes) && bytes > 0 ? bytes : DEFAULT_WAL_SEGMENT_SIZE;
}

/** One switch recorded in a `.history` file: `timeline` ended at `switchLsn`. */
export interface TimelineSwitch {
  timeline: number;
  switchLsn: string;
  reason: string;
}

/** What the archive directory holds, each list sorted by name. */
export interface WalArchiveListing {
  segments: string[];
  /** `00000002.history` files: the timeline's ancestry. */
  history: string[];
  /** Last segments of a timeline a promotion left unfinished (`<segment>.partial`). */
  partial: string[];
  /** `<segment>.<offset>.backup` files: a base backup's start and stop. */
  backup: string[];
  /** Anything else (basic_archive's `archtemp*` files while it copies, strays). */
  other: string[];
}

/**
 * List the archive directory `<repo>/wal` by kind. A missing directory is an empty archive.
 *
 * @example
 * const { segments } = await listWalArchive(defaultRepo(localLayout()));
 */
export async function listWalArchive(repo: BackupRepo): Promise<WalArchiveListing> {
  const listing: WalArchiveListing = { segments: [], history: [], partial: [], backup: [], other: [] };
  let names: string[];
  try {
    names = await readdir(repo.wal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return listing;
    throw error;
  }
  for (const name of names.sort()) {
    if (SEGMENT.test(name)) listing.segments.push(name);
    else if (/^[0-9A-F]{8}\.history$/.test(name)) listing.history.push(name);
    else if (/^[0-9A-F]{24}\.partial$/.test(name)) listing.partial.push(name);
    else if (/^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/.test(name)) listing.backup.push(name);
    else listing.other.push(name);
  }
  return listing;
}

/**
 * Parse a timeline history file: one line per ancestor, `parentTLI <tab> switchpoint <tab>
 * reason`, oldest first; `#` lines are comments.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [tli, lsn, ...reason] = line.split(/\s+/);
    const timeline = Number.parseInt(tli ?? '', 10);
    if (!Number.isInteger(timeline) || !lsn) throw new Error(`not a timeline history line: ${JSON.stringify(raw)}`);
    parseLsn(lsn);
    switches.push({ timeline, switchLsn: lsn, reason: reason.join(' ') });
  }
  return switches;
}

export interface WalContinuity {
  /** No segment is missing between the first and the last one checked. */
  ok: boolean;
  /** Files recovery would ask for and the archive lacks: segments, or a `.history` file. */
  missing: string[];
  /** The newest segment on the path checked (the `toFile` when given), or undefined if none. */
  newest?: string;
  /** The timeline followed to the end. */
  timeline: number;
  /** How many segments were expected from `fromFile` to `newest`. */
  checked: number;
  /** The segment names recovery reads from `fromFile` to `newest`, in order (missing ones included). */
  path: string[];
}

/**
 * Check that the archive holds every segment recovery needs from `fromFile` (e.g. a backup's
 * start WAL file) to `toFile`, or to the newest archived segment when it is left out. When the
 * timeline changes (a promotion), the newest timeline descending from `fromFile`'s is followed
 * through its `.history` file: segments before each switch are read on the parent timeline, from
 * the switch on on the child, as recovery with `recovery_target_timeline = 'latest'` reads them.
 *
 * @example
 * const { ok, missing } = await checkWalContinuity(repo, record.startWalFile);
 * if (!ok) throw new Error(`the archive lacks ${missing.join(', ')}`);
 */
export async function checkWalContinuity(
  repo: BackupRepo,
  fromFile: string,
  toFile?: string,
  segSize = DEFAULT_WAL_SEGMENT_SIZE,
): Promise<WalContinuity> {
  const from = parseWalName(fromFile);
  if (!from) throw new Error(`not a WAL segment name: ${JSON.stringify(fromFile)}`);
  const to = toFile === undefined ? undefined : parseWalName(toFile);
  if (toFile !== undefined && !to) throw new Error(`not a WAL segment name: ${JSON.stringify(toFile)}`);
  const listing = await listWalArchive(repo);
  const missing: string[] = [];

  // Each timeline's ancestry: timeline -> the switches that led to it (oldest first).
  const ancestry = new Map<number, TimelineSwitch[]>([[1, []]]);
  for (const file of listing.history) {
    ancestry.set(Number.parseInt(file.slice(0, 8), 16), parseTimelineHistory(await readFile(join(repo.wal, file), 'utf8')));
  }
  const descends = (timeline: number): boolean =>
    timeline === from.timeline || (ancestry.get(timeline) ?? []).some((step) => step.timeline === from.timeline);

  // The timeline to follow: toFile's, else the newest one descending from fromFile's.
  let timeline = to?.timeline ?? from.timeline;
  if (!to) {
    for (const candidate of ancestry.keys()) if (candidate > timeline && descends(candidate)) timeline = candidate;
  }
  let switches: TimelineSwitch[] = [];
  if (timeline !== from.timeline) {
    const known = ancestry.get(timeline);
    if (known) switches = known;
    else missing.push(`${hex8(timeline)}.history`);
  }
  // Segment number -> the timeline recovery reads it from: a parent up to the segment holding
  // its switch point (exclusive), the child from there on.
  const bounds = switches.map((step) => ({ timeline: step.timeline, endSegno: parseLsn(step.switchLsn) / BigInt(segSize) }));
  const timelineOf = (segno: bigint): number => bounds.find((bound) => segno < bound.endSegno)?.timeline ?? timeline;

  const present = new Set(listing.segments);
  const start = segmentNumber(from, segSize);
  let end = to ? segmentNumber(to, segSize) : undefined;
  if (end === undefined) {
    for (const name of listing.segments) {
      const parsed = parseWalName(name);
      if (!parsed) continue;
      const segno = segmentNumber(parsed, segSize);
      if (segno >= start && timelineOf(segno) === parsed.timeline && (end === undefined || segno > end)) end = segno;
    }
  }
  if (end === undefined) {
    // Nothing archived on the path at all: the first file is the one missing.
    const first = walNameOf(timelineOf(start), start, segSize);
    return { ok: false, missing: [...missing, first], timeline, checked: 1, path: [first] };
  }
  let checked = 0;
  const path: string[] = [];
  for (let segno = start; segno <= end; segno++) {
    checked++;
    const name = walNameOf(timelineOf(segno), segno, segSize);
    path.push(name);
    if (!present.has(name)) missing.push(name);
  }
  const newest = walNameOf(timelineOf(end), end, segSize);
  return { ok: missing.length === 0, missing, newest, timeline, checked, path };
}

/** `pg_stat_archiver`, and whether archiving is failing now. */
export interface ArchiveStatus {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: Date | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedTime: Date | null;
  /** The last attempt failed: a failure newer than the last success. */
  failing: boolean;
}

/**
 * The archiver's counters (server-wide), on the connection you pass.
 *
 * @example
 * const status = await archiveStatus(sql);
 * if (status.failing) console.error(`archiving ${status.lastFailedWal} fails`);
 */
export async function archiveStatus(sql: Sql): Promise<ArchiveStatus> {
  const row = await archiverStats(sql);
  return {
    archivedCount: row.archivedCount,
    lastArchivedWal: row.lastArchivedWal,
    lastArchivedTime: row.lastArchivedTime,
    failedCount: row.failedCount,
    lastFailedWal: row.lastFailedWal,
    lastFailedTime: row.lastFailedTime,
    failing: archiveFailing(row),
  };
}

/**
 * Switch to a new WAL segment and wait until the archiver has archived everything written so
 * far (`pg_stat_archiver.last_archived_wal` reaches the segment before the current one): what a
 * restore to "now" needs, e.g. before a planned failover or at the end of a test.
 *
 * @example
 * await waitForArchiver(sql); // every commit so far is in the archive
 */
export async function waitForArchiver(sql: Sql, timeoutMs = 20_000): Promise<void> {
  await sql`SELECT pg_switch_wal()`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ pending: boolean }[]>`
      SELECT last_archived_wal IS DISTINCT FROM pg_walfile_name(pg_current_wal_lsn() - 1) AS pending FROM pg_stat_archiver`;
    if (!row?.pending) return;
    if (Date.now() > deadline) {
      throw new JeexDbError('BACKUP_WAL_MISSING', `the archiver did not catch up within ${timeoutMs / 1000} s`, {
        hint: 'Check pg_stat_archiver (failed_count, last_failed_wal) and the server log for the archiver error.',
      });
    }
    await sleep(100);
  }
}
