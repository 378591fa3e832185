import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_WAL_SEGMENT_SIZE, parseLsn, parseWalName, segmentNumber } from './wal.ts';
import { WAL_PAGE_BYTES, lsnText, parsePageHeader, validSegmentSize, XLOG_PAGE_MAGIC } from './wal-page.ts';
import { RecordChecker, type RecordProblemKind } from './wal-records.ts';

/** `missing`: a segment of the sequence is not there; `size`: a segment is not the segment size long. */
export type WalDamageKind = RecordProblemKind | 'missing' | 'size' | 'unreadable';

/** The first damage found in a WAL read: where, and what is wrong. */
export interface WalDamage {
  kind: WalDamageKind;
  /** The segment file it is in. */
  segment: string;
  /** Byte offset in that file. */
  offset: number;
  /** The LSN of the damaged page or record. */
  lsn: string;
  /** What is wrong, in words (e.g. "the record's CRC-32C is ..., its header says ..."). */
  problem: string;
}

export interface WalReadResult {
  /** Where reading began. */
  startLsn: string;
  /**
   * Where the valid WAL ends: the end of the last valid record, 8-byte aligned (after an
   * XLOG_SWITCH, the next segment's start). Recovery from these segments stops here.
   */
  endLsn: string;
  /** The start of the last valid record (undefined when none was read). */
  lastRecordLsn?: string;
  records: number;
  segmentsRead: number;
  bytesRead: number;
  /** The first damage; absent when every segment read to its end (or to its XLOG_SWITCH). */
  damage?: WalDamage;
  segmentBytes: number;
  durationMs: number;
}

export interface WalReadOptions {
  /** The directory holding the segments (e.g. the repository's `wal/`). */
  dir: string;
  /** Segment file names in the order recovery reads them: consecutive segment numbers. */
  segments: readonly string[];
  /**
   * Where to start: the LSN of a record's start in the first segment (a backup's start LSN is
   * one), or of a page start. Default: the first segment's first byte.
   */
  from?: string;
  /** The segment size expected (a backup's `walSegmentBytes`); default: the first segment's long page header. */
  segmentBytes?: number;
  /** The database system the WAL must belong to (a backup's `systemIdentifier`). */
  systemIdentifier?: string;
  /** Bytes read at once (a multiple of 8 KiB; default 1 MiB): all the memory the read takes. */
  chunkBytes?: number;
  signal?: AbortSignal;
}

/**
 * Read WAL segments as recovery would and check every page header (PostgreSQL 18's magic, the
 * long header's system identifier and sizes, the page's own address, its timeline, the
 * continuation of records across pages with xlp_rem_len) and every record (xl_tot_len, xl_prev
 * chained to the previous record, the CRC-32C over its data and header). Reports where the
 * valid WAL ends and the first damage, with its segment, offset and LSN. Streams: one chunk in
 * memory at a time, whatever the number of segments or the size of a record.
 *
 * @example
 * const read = await readWal({ dir: repo.wal, segments: ['000000010000000000000003', '000000010000000000000004'], from: '0/3000028' });
 * if (read.damage) console.error(`${read.damage.segment} at offset ${read.damage.offset}: ${read.damage.problem}`);
 * read.endLsn; // '0/5000000' (the second segment ended with pg_switch_wal)
 */
export async function readWal(options: WalReadOptions): Promise<WalReadResult> {
  const began = performance.now();
  const first = options.segments[0];
  if (first === undefined) throw new Error('readWal: no segment to read');
  const chunkBytes = options.chunkBytes ?? 2 ** 20;
  if (chunkBytes % WAL_PAGE_BYTES !== 0 || chunkBytes <= 0) throw new Error(`readWal: chunkBytes ${chunkBytes} is not a multiple of ${WAL_PAGE_BYTES}`);
  const segmentBytes = options.segmentBytes ?? (await segmentSizeOf(join(options.dir, first))) ?? DEFAULT_WAL_SEGMENT_SIZE;
  const firstName = parseWalName(first);
  if (!firstName) throw new Error(`readWal: not a WAL segment name: ${first}`);
  const firstStart = Number(segmentNumber(firstName, segmentBytes)) * segmentBytes;
  const from = options.from === undefined ? firstStart : Number(parseLsn(options.from));
  if (from < firstStart || from >= firstStart + segmentBytes) throw new Error(`readWal: ${options.from ?? ''} is not in segment ${first}`);

  const checker = new RecordChecker(from, segmentBytes, options.systemIdentifier === undefined ? undefined : BigInt(options.systemIdentifier));
  const buffer = Buffer.alloc(chunkBytes);
  let segmentsRead = 0;
  let bytesRead = 0;
  const result = (damage?: WalDamage): WalReadResult => ({
    startLsn: lsnText(from),
    endLsn: lsnText(checker.end),
    ...(checker.lastRecord !== undefined ? { lastRecordLsn: lsnText(checker.lastRecord) } : {}),
    records: checker.records,
    segmentsRead,
    bytesRead,
    ...(damage ? { damage } : {}),
    segmentBytes,
    durationMs: performance.now() - began,
  });
  const at = (kind: WalDamageKind, segment: string, lsn: number, problem: string): WalDamage => ({ kind, segment, offset: lsn % segmentBytes, lsn: lsnText(lsn), problem });

  let expectedSegno: bigint | undefined;
  for (const name of options.segments) {
    options.signal?.throwIfAborted();
    const parsed = parseWalName(name);
    if (!parsed) throw new Error(`readWal: not a WAL segment name: ${name}`);
    const segno = segmentNumber(parsed, segmentBytes);
    if (expectedSegno !== undefined && segno !== expectedSegno) throw new Error(`readWal: ${name} does not follow the previous segment`);
    expectedSegno = segno + 1n;
    const segmentStart = Number(segno) * segmentBytes;
    checker.nextSegment();

    let file: FileHandle;
    try {
      file = await open(join(options.dir, name), 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return result(at('missing', name, segmentStart, `segment ${name} is not in ${options.dir}: recovery cannot read past ${lsnText(checker.end)}`));
      return result(at('unreadable', name, segmentStart, `segment ${name} cannot be opened (${code ?? String(error)})`));
    }
    try {
      const size = (await file.stat()).size;
      const readable = Math.min(size, segmentBytes) - (Math.min(size, segmentBytes) % WAL_PAGE_BYTES);
      segmentsRead += 1;
      const startOffset = checker.position - segmentStart - ((checker.position - segmentStart) % WAL_PAGE_BYTES);
      if (startOffset > 0 && readable > 0) {
        // Reading starts inside this segment: its first page's long header is checked all the same.
        const { bytesRead: got } = await file.read(buffer, 0, WAL_PAGE_BYTES, 0);
        bytesRead += got;
        const problem = checker.checkHeaderOnly(buffer, 0, segmentStart, name, parsed.timeline);
        if (problem) return result(at(problem.kind, problem.segment, problem.lsn, problem.problem));
      }
      for (let offset = startOffset; offset < readable && !checker.switched; offset += chunkBytes) {
        options.signal?.throwIfAborted();
        const length = Math.min(chunkBytes, readable - offset);
        const { bytesRead: got } = await file.read(buffer, 0, length, offset);
        bytesRead += got;
        if (got < length) return result(at('unreadable', name, segmentStart + offset + got, `segment ${name} could not be read past offset ${offset + got}`));
        for (let page = 0; page < length && !checker.switched; page += WAL_PAGE_BYTES) {
          const problem = checker.page(buffer, page, segmentStart + offset + page, name, parsed.timeline);
          if (problem) return result(at(problem.kind, problem.segment, problem.lsn, problem.problem));
        }
      }
      // PostgreSQL refuses an archived segment of the wrong size (FATAL in archive recovery).
      if (size !== segmentBytes) {
        return result(at('size', name, segmentStart + Math.min(size, segmentBytes), `segment ${name} is ${size} bytes long, expected ${segmentBytes}${size < segmentBytes ? ' (cut short)' : ''}`));
      }
      if (!checker.switched && checker.position < segmentStart + segmentBytes) {
        return result(at('unreadable', name, checker.position, `segment ${name} ends before its last page was read`));
      }
    } finally {
      await file.close();
    }
  }
  return result();
}

/** The segment size a segment's long page header gives, when it looks like one. */
async function segmentSizeOf(path: string): Promise<number | undefined> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return undefined;
  try {
    const page = Buffer.alloc(WAL_PAGE_BYTES);
    const { bytesRead } = await file.read(page, 0, WAL_PAGE_BYTES, 0);
    if (bytesRead < WAL_PAGE_BYTES) return undefined;
    const header = parsePageHeader(page, 0);
    const size = header.long?.segmentBytes;
    return header.magic === XLOG_PAGE_MAGIC && size !== undefined && validSegmentSize(size) ? size : undefined;
  } finally {
    await file.close();
  }
}
