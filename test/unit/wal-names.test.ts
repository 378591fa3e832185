import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupRepo, type BackupRepo } from '../../src/ops/backup/repo.ts';
import {
  checkWalContinuity,
  formatLsn,
  formatWalName,
  listWalArchive,
  parseLsn,
  parseTimelineHistory,
  parseWalName,
  segmentNumber,
  walFileForLsn,
  walNameOf,
} from '../../src/ops/backup/wal.ts';

// The LSN -> file name arithmetic is also checked against the server's own pg_walfile_name() in
// test/integration/wal-archive.test.ts.

describe('WAL file names', () => {
  it('take a segment name apart and put it back together', () => {
    expect(parseWalName('00000001000000020000003A')).toEqual({ timeline: 1, log: 2, seg: 0x3a });
    expect(formatWalName({ timeline: 0x1f, log: 0, seg: 0xff })).toBe('0000001F00000000000000FF');
    for (const name of ['000000010000000000000001.partial', '00000002.history', '0000000100000000000000', '00000001000000000000000g']) {
      expect(parseWalName(name), name).toBeUndefined();
    }
  });

  it('count segments across log files: 256 per log with 16 MiB, 4096 with 1 MiB', () => {
    expect(segmentNumber({ timeline: 1, log: 2, seg: 3 })).toBe(2n * 256n + 3n);
    expect(walNameOf(1, 256n)).toBe('000000010000000100000000');
    expect(walNameOf(3, 4097n, 2 ** 20)).toBe('000000030000000100000001');
  });

  it('parse and print LSNs', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(() => parseLsn('16-B374D848')).toThrow(/not an LSN/);
  });

  it('map an LSN to its file like pg_walfile_name; a record ending on a boundary is in the segment before', () => {
    expect(walFileForLsn('0/1000028', 1)).toBe('000000010000000000000001');
    expect(walFileForLsn('0/3000000', 1)).toBe('000000010000000000000003');
    expect(walFileForLsn('0/3000000', 1, undefined, { atBoundary: 'previous' })).toBe('000000010000000000000002');
    expect(walFileForLsn('0/3000001', 1, undefined, { atBoundary: 'previous' })).toBe('000000010000000000000003');
    expect(walFileForLsn('1/0', 2)).toBe('000000020000000100000000');
    expect(walFileForLsn('1/0', 2, undefined, { atBoundary: 'previous' })).toBe('0000000200000000000000FF');
    expect(walFileForLsn('16/B374D848', 1)).toBe('0000000100000016000000B3');
    expect(walFileForLsn('16/B374D848', 1, 64 * 2 ** 20)).toBe('00000001000000160000002C');
  });

  it('read timeline history files', () => {
    expect(parseTimelineHistory('1\t0/3000000\tno recovery target specified\n\n2\t0/50000A0\tat restore point "x"\n')).toEqual([
      { timeline: 1, switchLsn: '0/3000000', reason: 'no recovery target specified' },
      { timeline: 2, switchLsn: '0/50000A0', reason: 'at restore point "x"' },
    ]);
    expect(() => parseTimelineHistory('one\t0/1\n')).toThrow(/not a timeline history line/);
  });
});

describe('the archive: listing and continuity', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  async function archive(files: Record<string, string>): Promise<BackupRepo> {
    root = await mkdtemp(join(tmpdir(), 'jeex-wal-'));
    const repo = backupRepo(root);
    await mkdir(repo.wal, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(repo.wal, name), text);
    return repo;
  }
  const seg = (timeline: number, segno: number) => walNameOf(timeline, BigInt(segno));

  it('lists segments, history, partial and backup files apart from the rest', async () => {
    const repo = await archive({
      [seg(1, 2)]: '',
      [seg(1, 1)]: '',
      '00000002.history': '1\t0/2000000\tx\n',
      [`${seg(1, 2)}.partial`]: '',
      [`${seg(1, 1)}.00000028.backup`]: '',
      'archtemp.000000010000000000000003.123.456': '',
    });
    expect(await listWalArchive(repo)).toEqual({
      segments: [seg(1, 1), seg(1, 2)],
      history: ['00000002.history'],
      partial: [`${seg(1, 2)}.partial`],
      backup: [`${seg(1, 1)}.00000028.backup`],
      other: ['archtemp.000000010000000000000003.123.456'],
    });
    expect(await listWalArchive(backupRepo(join(repo.root, 'none')))).toMatchObject({ segments: [] });
  });

  it('finds no gap in a complete run, across a log boundary, up to the newest segment', async () => {
    const repo = await archive(Object.fromEntries([254, 255, 256, 257].map((n) => [seg(1, n), ''])));
    expect(await checkWalContinuity(repo, seg(1, 254))).toEqual({
      ok: true,
      missing: [],
      newest: seg(1, 257),
      timeline: 1,
      checked: 4,
      path: [seg(1, 254), seg(1, 255), seg(1, 256), seg(1, 257)],
    });
    expect(await checkWalContinuity(repo, seg(1, 255), seg(1, 256))).toMatchObject({ ok: true, newest: seg(1, 256), checked: 2 });
  });

  it('names each missing segment, including ones after the newest when toFile asks for them', async () => {
    const repo = await archive(Object.fromEntries([1, 2, 4, 7].map((n) => [seg(1, n), ''])));
    expect(await checkWalContinuity(repo, seg(1, 1))).toMatchObject({ ok: false, missing: [seg(1, 3), seg(1, 5), seg(1, 6)], newest: seg(1, 7), path: [1, 2, 3, 4, 5, 6, 7].map((n) => seg(1, n)) });
    expect(await checkWalContinuity(repo, seg(1, 7), seg(1, 8))).toMatchObject({ ok: false, missing: [seg(1, 8)] });
    expect(await checkWalContinuity(repo, seg(1, 9))).toMatchObject({ ok: false, missing: [seg(1, 9)] });
  });

  it('follows .history files to the newest timeline: parent segments before the switch, child ones from it', async () => {
    const files: Record<string, string> = {
      '00000002.history': '1\t0/3000000\tpromoted\n',
      '00000003.history': '1\t0/3000000\tpromoted\n2\t0/50000A0\tat restore point\n',
      [seg(1, 1)]: '',
      [seg(1, 2)]: '',
      [seg(1, 3)]: 'abandoned on timeline 1',
      [seg(2, 3)]: '',
      [seg(2, 4)]: '',
      [seg(2, 5)]: 'abandoned on timeline 2',
      [seg(3, 5)]: '',
      [seg(3, 6)]: '',
    };
    const repo = await archive(files);
    // The path recovery reads (and readArchivedWal after it): the abandoned ends of timelines 1 and 2 are not on it.
    expect(await checkWalContinuity(repo, seg(1, 1))).toEqual({
      ok: true,
      missing: [],
      newest: seg(3, 6),
      timeline: 3,
      checked: 6,
      path: [seg(1, 1), seg(1, 2), seg(2, 3), seg(2, 4), seg(3, 5), seg(3, 6)],
    });
    // Up to a file on timeline 2: that timeline's history only.
    expect(await checkWalContinuity(repo, seg(1, 1), seg(2, 4))).toMatchObject({ ok: true, timeline: 2, checked: 4 });
    await rm(join(repo.wal, seg(2, 4)));
    expect(await checkWalContinuity(repo, seg(1, 1))).toMatchObject({ ok: false, missing: [seg(2, 4)], newest: seg(3, 6) });
    await rm(join(repo.wal, '00000003.history'));
    // Without timeline 3's history, timeline 3 is unknown: the path ends on timeline 2.
    expect(await checkWalContinuity(repo, seg(1, 1))).toMatchObject({ timeline: 2, newest: seg(2, 5), missing: [seg(2, 4)] });
    const unknown = await checkWalContinuity(repo, seg(1, 1), seg(3, 6));
    expect(unknown.ok).toBe(false);
    expect(unknown.missing).toContain('00000003.history');
  });
});
