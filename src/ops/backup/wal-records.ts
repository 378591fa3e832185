import { crc32c } from '@node-rs/crc32';
import {
  RECORD_CRC_OFFSET,
  RECORD_HEADER_BYTES,
  RECORD_MAX_BYTES,
  RM_XLOG_ID,
  WAL_PAGE_BYTES,
  XLOG_SWITCH,
  XLP_FIRST_IS_CONTRECORD,
  XLP_FIRST_IS_OVERWRITE_CONTRECORD,
  lsnText,
  pageHeaderProblem,
  parsePageHeader,
  readPosition,
  validResourceManager,
} from './wal-page.ts';

/** Where a problem was found: the page header, a record's header or CRC, or a continuation. */
export type RecordProblemKind = 'page-header' | 'continuation' | 'record-header' | 'record-crc';

export interface RecordProblem {
  kind: RecordProblemKind;
  /** The LSN of the damaged page, or of the damaged record's start. */
  lsn: number;
  /** The segment file holding `lsn`. */
  segment: string;
  problem: string;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;
const hex8 = (n: number) => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

/**
 * The record-by-record state of a WAL read, fed one page at a time in LSN order: the checks of
 * xlogreader.c's XLogDecodeNextRecord, ValidXLogRecordHeader and ValidXLogRecord. Records are
 * never held whole: the CRC-32C is computed as the bytes pass (over the data after the 24-byte
 * header, then the header up to xl_crc), so memory stays at one page whatever a record's size.
 */
export class RecordChecker {
  /** The LSN of the next byte to read. */
  position: number;
  /** The end of the last valid record (MAXALIGNed, as recovery's EndRecPtr), or where reading began. */
  end: number;
  /** The start of the last valid record. */
  lastRecord: number | undefined;
  records = 0;
  /** The segment ended early: its last record was an XLOG_SWITCH, the rest is padding. */
  switched = false;

  private mode: 'start' | 'record' | 'skip' = 'start';
  private remaining = 0;
  private recordStart = 0;
  private recordLength = 0;
  private recordSegment = '';
  private readonly header = Buffer.alloc(RECORD_HEADER_BYTES);
  private headerBytes = 0;
  /** Where the current record's header is read from: `header`, or the page itself for a record on one page. */
  private headerSource: Buffer = this.header;
  private headerAt = 0;
  private crc = 0;
  /** The previous record's start: the next record's xl_prev must point at it (unknown at the first). */
  private previous: number | undefined;
  private previousTimeline = 0;
  private firstPage = true;

  constructor(
    from: number,
    private readonly segmentBytes: number,
    private readonly systemIdentifier: bigint | undefined,
  ) {
    this.position = from;
    this.end = from;
  }

  /** The first page of a segment read to check its long header only (reading starts later in it). */
  checkHeaderOnly(buffer: Buffer, offset: number, pageAddress: number, segment: string, fileTimeline: number): RecordProblem | undefined {
    return this.checkPageHeader(buffer, offset, pageAddress, segment, fileTimeline).problem;
  }

  /** A new segment after an XLOG_SWITCH: reading goes on at its first byte. */
  nextSegment(): void {
    this.switched = false;
  }

  /**
   * Check the page at `offset` in `buffer` (LSN `pageAddress`) and every record byte on it.
   * Returns the first problem found; `switched` is set when an XLOG_SWITCH ends the segment here.
   */
  page(buffer: Buffer, offset: number, pageAddress: number, segment: string, fileTimeline: number): RecordProblem | undefined {
    const checked = this.checkPageHeader(buffer, offset, pageAddress, segment, fileTimeline);
    if (checked.problem) return checked.problem;
    const header = checked.header;
    const bodyStart = pageAddress + header.headerBytes;
    const pageEnd = pageAddress + WAL_PAGE_BYTES;
    const continues = (header.info & XLP_FIRST_IS_CONTRECORD) !== 0;
    const fail = (kind: RecordProblemKind, problem: string): RecordProblem => ({ kind, lsn: pageAddress, segment, problem });

    if (this.firstPage) {
      this.firstPage = false;
      if (this.position === pageAddress) {
        // Reading begins at a page start: whatever continues from an earlier page is skipped.
        if (continues) {
          this.mode = 'skip';
          this.remaining = header.remainingBytes;
        }
        this.position = bodyStart;
      } else if (this.position < bodyStart) {
        return fail('record-header', `reading was asked to start at ${lsnText(this.position)}, inside the page header`);
      }
    } else {
      if (this.mode !== 'start' && (header.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0) {
        // The rest of that record was never written (a crash cut it); the server abandoned it and
        // wrote on from here (CreateOverwriteContrecordRecord). The previous record stays the last one.
        this.mode = 'start';
      } else if (this.mode !== 'start') {
        if (!continues) {
          return fail('continuation', `the record at ${lsnText(this.recordStart)} has ${this.remaining} more bytes on this page, but the page header does not say it continues a record (no XLP_FIRST_IS_CONTRECORD)`);
        }
        if (header.remainingBytes !== this.remaining) {
          return fail('continuation', `xlp_rem_len says ${header.remainingBytes} bytes continue here, but the record at ${lsnText(this.recordStart)} has ${this.remaining} left`);
        }
      } else if (continues) {
        return fail('continuation', `the page header says a record continues here (xlp_rem_len ${header.remainingBytes}), but the record before ended on the previous page`);
      }
      this.position = bodyStart;
    }

    while (this.position < pageEnd) {
      const at = offset + (this.position - pageAddress);
      if (this.mode === 'start') {
        // Records are 8-byte aligned, so xl_tot_len (4 bytes) is always on this page.
        const length = buffer.readUInt32LE(at);
        if (length < RECORD_HEADER_BYTES || length > RECORD_MAX_BYTES) {
          const problem =
            length === 0
              ? 'zeros where the next record should start: the WAL stops in the middle of the segment'
              : `record length ${length} (xl_tot_len), ${length < RECORD_HEADER_BYTES ? `less than the ${RECORD_HEADER_BYTES}-byte record header` : 'more than any record can be'}`;
          return { kind: 'record-header', lsn: this.position, segment, problem };
        }
        this.mode = 'record';
        this.recordStart = this.position;
        this.recordLength = length;
        this.recordSegment = segment;
        this.remaining = length;
        this.headerBytes = 0;
        this.crc = 0;
      }
      const take = Math.min(this.remaining, pageEnd - this.position);
      if (this.mode === 'record') {
        const problem = this.feed(buffer, at, take);
        if (problem) return problem;
      }
      this.position += take;
      this.remaining -= take;
      if (this.remaining > 0) continue;
      if (this.mode === 'record') {
        const problem = this.finishRecord();
        if (problem) return problem;
        if (this.switched) {
          this.mode = 'start';
          this.position = this.end;
          return undefined;
        }
      }
      this.mode = 'start';
      this.position = align8(this.position);
    }
    return undefined;
  }

  private checkPageHeader(buffer: Buffer, offset: number, pageAddress: number, segment: string, fileTimeline: number) {
    const header = parsePageHeader(buffer, offset);
    const text = pageHeaderProblem(header, {
      pageAddress,
      firstOfSegment: pageAddress % this.segmentBytes === 0,
      segmentBytes: this.segmentBytes,
      fileTimeline,
      previousTimeline: this.previousTimeline,
      ...(this.systemIdentifier !== undefined ? { systemIdentifier: this.systemIdentifier } : {}),
    });
    if (!text) this.previousTimeline = header.timeline;
    return { header, problem: text ? ({ kind: 'page-header', lsn: pageAddress, segment, problem: text } satisfies RecordProblem) : undefined };
  }

  /** `count` bytes of the current record from `buffer[at]`: the header first, then the CRC over the data. */
  private feed(buffer: Buffer, at: number, count: number): RecordProblem | undefined {
    let from = at;
    let left = count;
    if (this.headerBytes === 0 && count === this.recordLength) {
      // The whole record is on this page (the common case): its header is read in place, and the
      // record is finished before the buffer is read into again.
      this.headerSource = buffer;
      this.headerAt = at;
      this.headerBytes = RECORD_HEADER_BYTES;
      from += RECORD_HEADER_BYTES;
      left -= RECORD_HEADER_BYTES;
      const problem = this.checkRecordHeader();
      if (problem) return problem;
    } else if (this.headerBytes < RECORD_HEADER_BYTES) {
      this.headerSource = this.header;
      this.headerAt = 0;
      const part = Math.min(RECORD_HEADER_BYTES - this.headerBytes, left);
      buffer.copy(this.header, this.headerBytes, from, from + part);
      this.headerBytes += part;
      from += part;
      left -= part;
      if (this.headerBytes === RECORD_HEADER_BYTES) {
        const problem = this.checkRecordHeader();
        if (problem) return problem;
      }
    }
    if (left > 0) this.crc = crc32c(buffer.subarray(from, from + left), this.crc);
    return undefined;
  }

  private checkRecordHeader(): RecordProblem | undefined {
    const fail = (problem: string): RecordProblem => ({ kind: 'record-header', lsn: this.recordStart, segment: this.recordSegment, problem });
    const rmid = this.headerSource[this.headerAt + 17] ?? 0;
    if (!validResourceManager(rmid)) return fail(`invalid resource manager id ${rmid} (xl_rmid)`);
    const prev = readPosition(this.headerSource, this.headerAt + 8);
    if (this.previous !== undefined ? prev !== this.previous : prev >= this.recordStart) {
      return fail(`xl_prev ${lsnText(prev)}, expected ${this.previous !== undefined ? `${lsnText(this.previous)} (the previous record)` : `an LSN before the record`}`);
    }
    return undefined;
  }

  private finishRecord(): RecordProblem | undefined {
    const header = this.headerSource;
    const at = this.headerAt;
    const computed = crc32c(header.subarray(at, at + RECORD_CRC_OFFSET), this.crc) >>> 0;
    const stored = header.readUInt32LE(at + RECORD_CRC_OFFSET);
    if (computed !== stored) {
      return {
        kind: 'record-crc',
        lsn: this.recordStart,
        segment: this.recordSegment,
        problem: `the record's CRC-32C is ${hex8(computed)}, its header says ${hex8(stored)} (xl_crc): ${this.recordLength} bytes of the record were changed`,
      };
    }
    this.records += 1;
    this.lastRecord = this.recordStart;
    this.previous = this.recordStart;
    this.end = align8(this.recordStart + this.recordLength);
    const rmid = header[at + 17] ?? 0;
    const info = header[at + 16] ?? 0;
    if (rmid === RM_XLOG_ID && (info & 0xf0) === XLOG_SWITCH) {
      // Recovery reads on at the next segment; the rest of this one is padding (zeroed pages).
      this.end = Math.ceil(this.end / this.segmentBytes) * this.segmentBytes;
      this.switched = true;
    }
    return undefined;
  }
}
