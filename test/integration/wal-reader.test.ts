import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackupRepo } from '../../src/ops/backup/repo.ts';
import { parseLsn, parseWalName, segmentNumber, walNameOf } from '../../src/ops/backup/wal.ts';
import { WAL_PAGE_BYTES, XLOG_PAGE_MAGIC, XLP_FIRST_IS_CONTRECORD, XLP_LONG_HEADER, parsePageHeader } from '../../src/ops/backup/wal-page.ts';
import { readWal } from '../../src/ops/backup/wal-reader.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';

// The WAL reader on segments the embedded PostgreSQL 18.4 wrote: 18 logical messages of 1 MiB
// each (every one a record over ~128 pages, one of them across a segment boundary), then
// pg_switch_wal(). A copy of those segments is read intact, then with one thing damaged at a
// time: a byte of a record's data, a page header, a continuation, a truncated or missing segment.

const CLUSTER_TIMEOUT = 180_000;
const SEGMENT = 16 * 2 ** 20;

describe('readWal on real PostgreSQL 18 segments', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let copy: string;
  /** The segments written, oldest first, and what the server said about them. */
  const segments: string[] = [];
  const server = { from: '', switchEnd: '', marker: '' };

  const segmentPath = (name: string) => join(copy, name);
  const flip = async (name: string, offset: number, mask = 0x01) => {
    const bytes = await readFile(segmentPath(name));
    bytes[offset] = (bytes[offset] ?? 0) ^ mask;
    await writeFile(segmentPath(name), bytes);
  };
  const read = (options: { from?: string; chunkBytes?: number } = {}) => readWal({ dir: copy, segments, from: options.from ?? server.from, ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}) });
  /** Where our payload first appears in a segment (inside the first message record). */
  const payloadIn = async (name: string) => (await readFile(segmentPath(name))).indexOf(server.marker);

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-wal-reader-'));
    server.marker = `jeex-wal-reader-${randomBytes(6).toString('hex')}|`;
    const payload = server.marker.repeat(Math.ceil(2 ** 20 / server.marker.length));
    const [start] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
    server.from = start?.lsn ?? '';
    for (let i = 0; i < 18; i++) await sql`SELECT pg_logical_emit_message(false, 'jeex-test', ${payload}::text)`;
    const [switched] = await sql<{ lsn: string }[]>`SELECT pg_switch_wal()::text AS lsn`;
    server.switchEnd = switched?.lsn ?? '';
    const first = parseWalName(walNameOf(1, parseLsn(server.from) / BigInt(SEGMENT)));
    const last = parseLsn(server.switchEnd) / BigInt(SEGMENT);
    if (!first) throw new Error('no first segment');
    for (let segno = segmentNumber(first); segno <= last; segno++) segments.push(walNameOf(1, segno));
    const deadline = Date.now() + 30_000;
    for (const name of segments) {
      while (!(await stat(join(repo.wal, name)).catch(() => undefined))) {
        if (Date.now() > deadline) throw new Error(`${name} was not archived within 30 s`);
        await sleep(100);
      }
    }
    copy = join(root, 'copy');
  }, CLUSTER_TIMEOUT);

  beforeEach(async () => {
    await rm(copy, { recursive: true, force: true });
    await mkdir(copy, { recursive: true });
    for (const name of segments) await copyFile(join(repo.wal, name), segmentPath(name));
  });

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it("the server's pages carry PostgreSQL 18's magic; the first page of each segment a long header with the segment size", async () => {
    expect(segments.length).toBeGreaterThanOrEqual(2);
    for (const name of segments) {
      const page = (await readFile(segmentPath(name))).subarray(0, WAL_PAGE_BYTES);
      const header = parsePageHeader(page, 0);
      expect(header.magic).toBe(XLOG_PAGE_MAGIC);
      expect(header.magic).toBe(0xd118);
      expect(header.info & XLP_LONG_HEADER).toBe(XLP_LONG_HEADER);
      expect(header.long?.segmentBytes).toBe(SEGMENT);
      expect(header.long?.pageBytes).toBe(WAL_PAGE_BYTES);
    }
  });

  it('intact: every record valid, the end at the segment the switch closed, the last record the XLOG_SWITCH', async () => {
    const result = await read();
    expect(result.damage).toBeUndefined();
    expect(result.startLsn).toBe(server.from);
    expect(result.records).toBeGreaterThanOrEqual(19);
    expect(result.segmentsRead).toBe(segments.length);
    // pg_switch_wal() returns the end of the switch record (24 bytes); recovery goes on at the next segment.
    expect(parseLsn(result.lastRecordLsn ?? '0/0')).toBe(parseLsn(server.switchEnd) - 24n);
    expect(parseLsn(result.endLsn)).toBe((parseLsn(server.switchEnd) / BigInt(SEGMENT) + 1n) * BigInt(SEGMENT));
    // Streaming: one page at a time gives the same answer as 1 MiB at a time, and so does a read from the segment's first byte.
    const paged = await read({ chunkBytes: WAL_PAGE_BYTES });
    expect({ ...paged, durationMs: 0, bytesRead: 0 }).toEqual({ ...result, durationMs: 0, bytesRead: 0 });
    const whole = await readWal({ dir: copy, segments });
    expect(whole.damage).toBeUndefined();
    expect(whole.endLsn).toBe(result.endLsn);
    expect(whole.records).toBeGreaterThanOrEqual(result.records);
  });

  it('a flipped byte in a record’s data: record-crc at that record, the valid WAL ends where it starts', async () => {
    const name = segments[0] ?? '';
    const at = (await payloadIn(name)) + 3 * WAL_PAGE_BYTES + 100;
    expect(at % WAL_PAGE_BYTES).toBeGreaterThan(40);
    await flip(name, at);
    const result = await read();
    expect(result.damage).toMatchObject({ kind: 'record-crc', segment: name });
    expect(result.damage?.problem).toMatch(/CRC-32C is 0x[0-9A-F]{8}, its header says 0x[0-9A-F]{8}/);
    const recordStart = result.damage?.offset ?? -1;
    expect(recordStart).toBeLessThan(at);
    expect(at - recordStart).toBeLessThan(2 ** 20 + 200);
    expect(result.endLsn).toBe(result.damage?.lsn);
  });

  it('a flipped byte in a page header (magic, then page address): page-header at that page', async () => {
    const name = segments[0] ?? '';
    const page = Math.floor((await payloadIn(name)) / WAL_PAGE_BYTES) * WAL_PAGE_BYTES + 5 * WAL_PAGE_BYTES;
    const pageLsn = (parseLsn(server.from) / BigInt(SEGMENT)) * BigInt(SEGMENT) + BigInt(page);
    await flip(name, page + 1);
    const magic = await read();
    expect(magic.damage).toMatchObject({ kind: 'page-header', segment: name, offset: page });
    expect(parseLsn(magic.damage?.lsn ?? '0/0')).toBe(pageLsn);
    expect(magic.damage?.problem).toMatch(/magic number 0xD018, expected 0xD118/);
    await flip(name, page + 1);
    await flip(name, page + 10);
    const address = await read();
    expect(address.damage).toMatchObject({ kind: 'page-header', offset: page });
    expect(address.damage?.problem).toMatch(/page address .*, expected /);
  });

  it('a continuation: the contrecord flag cleared, or xlp_rem_len changed, on a page inside a record', async () => {
    const name = segments[0] ?? '';
    const page = Math.floor((await payloadIn(name)) / WAL_PAGE_BYTES) * WAL_PAGE_BYTES + 7 * WAL_PAGE_BYTES;
    const header = parsePageHeader(await readFile(segmentPath(name)), page);
    // What the server wrote: this page continues the message record.
    expect(header.info & XLP_FIRST_IS_CONTRECORD).toBe(XLP_FIRST_IS_CONTRECORD);
    expect(header.remainingBytes).toBeGreaterThan(WAL_PAGE_BYTES);
    await flip(name, page + 2, XLP_FIRST_IS_CONTRECORD);
    const flag = await read();
    expect(flag.damage).toMatchObject({ kind: 'continuation', offset: page });
    expect(flag.damage?.problem).toMatch(/does not say it continues a record/);
    await flip(name, page + 2, XLP_FIRST_IS_CONTRECORD);
    await flip(name, page + 16);
    const length = await read();
    expect(length.damage).toMatchObject({ kind: 'continuation', offset: page });
    expect(length.damage?.problem).toMatch(/xlp_rem_len says \d+ bytes continue here, but the record at .* has \d+ left/);
  });

  it('a record continued across segments: the next segment’s first page checked as its continuation', async () => {
    const name = segments[1] ?? '';
    const header = parsePageHeader(await readFile(segmentPath(name)), 0);
    expect(header.info & XLP_FIRST_IS_CONTRECORD).toBe(XLP_FIRST_IS_CONTRECORD);
    await flip(name, 17);
    const result = await read();
    expect(result.damage).toMatchObject({ kind: 'continuation', segment: name, offset: 0 });
  });

  it('a truncated segment and a missing one are damage (PostgreSQL refuses a short archived segment)', async () => {
    const name = segments[0] ?? '';
    await truncate(segmentPath(name), SEGMENT / 2);
    const short = await read();
    expect(short.damage).toMatchObject({ kind: 'size', segment: name, offset: SEGMENT / 2 });
    expect(short.damage?.problem).toBe(`segment ${name} is ${SEGMENT / 2} bytes long, expected ${SEGMENT} (cut short)`);
    await copyFile(join(repo.wal, name), segmentPath(name));
    const gone = segments[1] ?? '';
    await unlink(segmentPath(gone));
    const missing = await read();
    expect(missing.damage).toMatchObject({ kind: 'missing', segment: gone, offset: 0 });
  });

  it('xl_prev not pointing at the previous record: record-header', async () => {
    const intact = await read();
    const last = parseLsn(intact.lastRecordLsn ?? '0/0');
    const name = segments.at(-1) ?? '';
    // The switch record's xl_prev (bytes 8..15 of its header).
    await flip(name, Number(last % BigInt(SEGMENT)) + 8);
    const result = await read();
    expect(result.damage).toMatchObject({ kind: 'record-header', segment: name, lsn: intact.lastRecordLsn });
    expect(result.damage?.problem).toMatch(/xl_prev .*, expected .* \(the previous record\)/);
  });
});
