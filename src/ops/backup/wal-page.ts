/**
 * The on-disk format of PostgreSQL 18's WAL, as far as a reader needs it to tell intact WAL from
 * damaged WAL: page headers (src/include/access/xlog_internal.h) and record headers
 * (src/include/access/xlogrecord.h). All fields are little-endian on the platforms we run on.
 *
 * A segment is a sequence of 8 KiB pages. Each page starts with a header (the first page of a
 * segment with the long one, which adds the system identifier and the segment size); records
 * follow at 8-byte alignment and may continue on the next pages, whose headers then say how many
 * bytes of the record are still to come.
 */

/** `XLOG_PAGE_MAGIC` of PostgreSQL 18 (the WAL format's version: each major release changes it). */
export const XLOG_PAGE_MAGIC = 0xd118;
/** `XLOG_BLCKSZ`: the WAL page size the embedded binaries are built with. */
export const WAL_PAGE_BYTES = 8192;
/** `SizeOfXLogShortPHD` and `SizeOfXLogLongPHD` (MAXALIGNed). */
export const SHORT_PAGE_HEADER_BYTES = 24;
export const LONG_PAGE_HEADER_BYTES = 40;
/** `SizeOfXLogRecord`: xl_tot_len, xl_xid, xl_prev, xl_info, xl_rmid, 2 bytes of padding, xl_crc. */
export const RECORD_HEADER_BYTES = 24;
/** `offsetof(XLogRecord, xl_crc)`: the header bytes the CRC covers. */
export const RECORD_CRC_OFFSET = 20;
/** `XLogRecordMaxSize` (1020 MiB): no valid record is longer. */
export const RECORD_MAX_BYTES = 1020 * 1024 * 1024;

/** xlp_info bits. */
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_BKP_REMOVABLE = 0x0004;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
export const XLP_ALL_FLAGS = 0x000f;

/** `RM_XLOG_ID` and `XLOG_SWITCH`: the record that ends a segment early (pg_switch_wal, archive_timeout). */
export const RM_XLOG_ID = 0;
export const XLOG_SWITCH = 0x40;
/** Built-in resource managers are 0..21 in PostgreSQL 18 (RM_LOGICALMSG_ID last); 128..255 are custom ones. */
const RM_MAX_BUILTIN_ID = 21;
const RM_MIN_CUSTOM_ID = 128;

/** WAL segment sizes initdb accepts: a power of two from 1 MiB to 1 GiB. */
export function validSegmentSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= 2 ** 20 && bytes <= 2 ** 30 && (bytes & (bytes - 1)) === 0;
}

export function validResourceManager(rmid: number): boolean {
  return rmid <= RM_MAX_BUILTIN_ID || rmid >= RM_MIN_CUSTOM_ID;
}

/** A 64-bit little-endian position read as a number (exact below 2^53 bytes, 8 PiB of WAL). */
export function readPosition(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset + 4) * 2 ** 32 + buffer.readUInt32LE(offset);
}

/** An LSN as PostgreSQL prints it: `0/A0000D8`. */
export function lsnText(position: number): string {
  const high = Math.floor(position / 2 ** 32);
  return `${high.toString(16).toUpperCase()}/${(position - high * 2 ** 32).toString(16).toUpperCase()}`;
}

export interface WalPageHeader {
  magic: number;
  info: number;
  /** xlp_tli: the timeline of the first record on the page. */
  timeline: number;
  /** xlp_pageaddr: the LSN of the page's first byte. */
  pageAddress: number;
  /** xlp_rem_len: bytes of a record begun on an earlier page still to come on this one and after. */
  remainingBytes: number;
  /** 24, or 40 with the long header. */
  headerBytes: number;
  /** The long header's fields (the first page of a segment). */
  long?: { systemIdentifier: bigint; segmentBytes: number; pageBytes: number };
}

/** Read the header of the page that starts at `offset` in `buffer` (no check made). */
export function parsePageHeader(buffer: Buffer, offset: number): WalPageHeader {
  const info = buffer.readUInt16LE(offset + 2);
  const isLong = (info & XLP_LONG_HEADER) !== 0;
  return {
    magic: buffer.readUInt16LE(offset),
    info,
    timeline: buffer.readUInt32LE(offset + 4),
    pageAddress: readPosition(buffer, offset + 8),
    remainingBytes: buffer.readUInt32LE(offset + 16),
    headerBytes: isLong ? LONG_PAGE_HEADER_BYTES : SHORT_PAGE_HEADER_BYTES,
    ...(isLong
      ? { long: { systemIdentifier: buffer.readBigUInt64LE(offset + 24), segmentBytes: buffer.readUInt32LE(offset + 32), pageBytes: buffer.readUInt32LE(offset + 36) } }
      : {}),
  };
}

export interface PageExpectations {
  /** The LSN the page is at (its position in the segment). */
  pageAddress: number;
  firstOfSegment: boolean;
  segmentBytes: number;
  /** The timeline of the segment file (from its name): no page may be on a later one. */
  fileTimeline: number;
  /** The timeline of the previous page read: timelines never go backwards. */
  previousTimeline: number;
  systemIdentifier?: bigint;
}

const hex4 = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * What is wrong with a page header, in words, or undefined when it is valid: the checks of
 * xlogreader.c's XLogReaderValidatePageHeader (magic, flag bits, the long header on a segment's
 * first page with the system identifier, segment and page size, the page's own address, a
 * timeline that does not go backwards) and the file's timeline.
 */
export function pageHeaderProblem(header: WalPageHeader, expected: PageExpectations): string | undefined {
  if (header.magic !== XLOG_PAGE_MAGIC) {
    return `page header: magic number ${hex4(header.magic)}, expected ${hex4(XLOG_PAGE_MAGIC)} (PostgreSQL 18 WAL)${header.magic === 0 ? ': the page is zeroed' : ''}`;
  }
  if ((header.info & ~XLP_ALL_FLAGS) !== 0) return `page header: invalid info bits ${hex4(header.info)}`;
  if (expected.firstOfSegment && !header.long) return `page header: the segment's first page has no long header (info bits ${hex4(header.info)})`;
  if (header.long) {
    if (expected.systemIdentifier !== undefined && header.long.systemIdentifier !== expected.systemIdentifier) {
      return `page header: WAL of another database system (system identifier ${header.long.systemIdentifier}, expected ${expected.systemIdentifier})`;
    }
    if (header.long.segmentBytes !== expected.segmentBytes) return `page header: segment size ${header.long.segmentBytes}, expected ${expected.segmentBytes}`;
    if (header.long.pageBytes !== WAL_PAGE_BYTES) return `page header: WAL page size ${header.long.pageBytes}, expected ${WAL_PAGE_BYTES}`;
  }
  if (header.pageAddress !== expected.pageAddress) {
    return `page header: page address ${lsnText(header.pageAddress)}, expected ${lsnText(expected.pageAddress)} (a page of another segment, or of an old recycled one)`;
  }
  if (header.timeline > expected.fileTimeline) return `page header: timeline ${header.timeline} in a segment of timeline ${expected.fileTimeline}`;
  if (header.timeline < expected.previousTimeline) return `page header: timeline ${header.timeline} after a page of timeline ${expected.previousTimeline} (timelines never go back)`;
  return undefined;
}
