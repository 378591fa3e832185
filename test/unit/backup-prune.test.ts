import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/ops/backup/list.ts';
import { pruneBackups, type PruneOptions } from '../../src/ops/backup/prune.ts';
import { backupRepo, type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { resolveRetention } from '../../src/ops/backup/retention.ts';
import { checkWalContinuity } from '../../src/ops/backup/wal.ts';
import { JeexDbError } from '../../src/core/errors.ts';

// Retention over a fake repository: backup.json records with chosen stop times and verification
// outcomes, WAL files named as the server names them. No database needed.

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);
const id = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const seg = (timeline: number, n: number) => `${timeline.toString(16).padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`.toUpperCase();

let repo: BackupRepo;
beforeEach(async () => {
  repo = backupRepo(await mkdtemp(join(tmpdir(), 'jeex-prune-')));
  await mkdir(repo.base, { recursive: true });
  await mkdir(repo.wal, { recursive: true });
});
afterEach(async () => {
  await rm(repo.root, { recursive: true, force: true });
});

/** A complete backup that stopped `days` ago, starting at `startWalFile`. */
async function backup(days: number, options: { start?: string; ok?: boolean } = {}): Promise<string> {
  const stopped = ago(days);
  const record: BackupRecord = {
    id: id(new Date(stopped.getTime() - 60_000)),
    format: 'tar.gz',
    startedAt: new Date(stopped.getTime() - 60_000).toISOString(),
    stoppedAt: stopped.toISOString(),
    startLsn: '0/2000028',
    stopLsn: '0/2000100',
    timeline: Number.parseInt((options.start ?? seg(1, 2)).slice(0, 8), 16),
    startWalFile: options.start ?? seg(1, 2),
    stopWalFile: options.start ?? seg(1, 2),
    systemIdentifier: '7000000000000000000',
    serverVersion: '18.1',
    sizeBytes: 1000,
    storedBytes: 100,
    files: 3,
    rowCounts: {},
    walSegmentBytes: 16 * 2 ** 20,
    ...(options.ok === undefined ? {} : { verified: { at: stopped.toISOString(), ok: options.ok, steps: [] } }),
  };
  const dir = join(repo.base, record.id);
  await mkdir(dir);
  await writeFile(join(dir, 'base.tar.gz'), Buffer.alloc(100));
  await writeFile(join(dir, 'backup_manifest'), '{}\n');
  await writeFile(join(dir, 'backup.json'), JSON.stringify(record));
  return record.id;
}

async function wal(...names: string[]): Promise<void> {
  for (const name of names) await writeFile(join(repo.wal, name), name.endsWith('.history') ? '1\t0/5000100\tno recovery target specified\n' : Buffer.alloc(64));
}

const prune = (options: PruneOptions) => pruneBackups(repo, { now: () => NOW, env: {}, ...options });
const onDisk = async () => ({ base: (await readdir(repo.base)).sort(), wal: (await readdir(repo.wal)).sort() });

describe('pruneBackups: which backups stay', () => {
  it('keeps the newest keepCount and those younger than keepDays, deletes the rest from disk', async () => {
    const [d20, d18, d16, d10, d5, d1] = [await backup(20), await backup(18), await backup(16), await backup(10), await backup(5), await backup(1)];
    const result = await prune({ keepCount: 2, keepDays: 12 });
    expect(result.deleted).toEqual([d20, d18, d16]);
    expect(result.kept).toEqual([d10, d5, d1]);
    expect(result.reasons[d10]).toMatch(/younger than 12 days/);
    expect(result.reasons[d5]).toMatch(/among the newest 2/);
    expect(result.reasons[d1]).toMatch(/the newest backup/);
    expect(result.reasons[d20]).toMatch(/older than 12 days and not among the newest 2/);
    expect(result.freedBytes).toBeGreaterThan(0);
    expect((await listBackups(repo)).backups.map((b) => b.id)).toEqual([d10, d5, d1]);
    expect((await onDisk()).base).toEqual([d10, d5, d1]);
  });

  it('defaults to 7 backups and 14 days; JEEX_BACKUP_KEEP_* apply when no option is given, options win', async () => {
    const ids = [];
    for (const days of [40, 35, 30, 25, 22, 21, 20, 19, 3]) ids.push(await backup(days));
    expect((await prune({ dryRun: true })).deleted).toEqual(ids.slice(0, 2));
    expect((await prune({ dryRun: true, env: { JEEX_BACKUP_KEEP_COUNT: '3', JEEX_BACKUP_KEEP_DAYS: '21.5' } })).deleted).toEqual(ids.slice(0, 5));
    expect((await prune({ dryRun: true, keepCount: 8, env: { JEEX_BACKUP_KEEP_COUNT: '3' } })).deleted).toEqual(ids.slice(0, 1));
  });

  it('rejects a bad JEEX_BACKUP_KEEP_COUNT / JEEX_BACKUP_KEEP_DAYS as INVALID_CONFIG naming each variable', async () => {
    await backup(30);
    const error = await prune({ env: { JEEX_BACKUP_KEEP_COUNT: 'seven', JEEX_BACKUP_KEEP_DAYS: '-1' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JeexDbError);
    expect((error as JeexDbError).code).toBe('INVALID_CONFIG');
    expect((error as JeexDbError).message).toContain('JEEX_BACKUP_KEEP_COUNT must be a whole number of 0 or more, got "seven"');
    expect((error as JeexDbError).message).toContain('JEEX_BACKUP_KEEP_DAYS must be a number of 0 or more, got "-1"');
    expect(() => resolveRetention({ keepCount: 1.5 }, {})).toThrow(/option keepCount must be a whole number/);
    expect((await onDisk()).base).toHaveLength(1);
  });

  it('never deletes the only valid backup, even when the policy would', async () => {
    const valid = await backup(30, { ok: true });
    const bad1 = await backup(2, { ok: false });
    const bad2 = await backup(1, { ok: false });
    const result = await prune({ keepCount: 2, keepDays: 0 });
    expect(result.deleted).toEqual([]);
    expect(result.kept).toEqual([valid, bad1, bad2]);
    expect(result.reasons[valid]).toBe('the only valid backup');
  });

  it('keeps every backup when all failed verification, and says so', async () => {
    const ids = [await backup(30, { ok: false }), await backup(20, { ok: false }), await backup(10, { ok: false })];
    const result = await prune({ keepCount: 1, keepDays: 0 });
    expect(result.deleted).toEqual([]);
    expect(result.kept).toEqual(ids);
    expect(result.warnings.join('\n')).toMatch(/every backup \(3\) failed verification/);
    expect(result.reasons[ids[0] ?? '']).toMatch(/all are kept/);
    expect((await onDisk()).base).toEqual(ids);
  });

  it('never deletes the newest valid backup; failed and unverified ones age out normally', async () => {
    const old = await backup(30, { ok: true });
    const newestValid = await backup(20); // unverified counts as valid
    const failed = await backup(1, { ok: false });
    const result = await prune({ keepCount: 1, keepDays: 0 });
    expect(result.deleted).toEqual([old]);
    expect(result.kept).toEqual([newestValid, failed]);
    expect(result.reasons[newestValid]).toBe('the newest valid backup');
    expect(result.reasons[failed]).toBe('the newest backup');

    // keepCount 0: only the safety net remains.
    const zero = await prune({ keepCount: 0, keepDays: 0 });
    expect(zero.deleted).toEqual([failed]);
    expect(zero.kept).toEqual([newestValid]);
  });

  it('removes .partial directories untouched for a day and leaves younger ones (a backup may be running)', async () => {
    const kept = await backup(1);
    const stale = `${id(ago(3))}.partial`;
    const running = `${id(ago(0.1))}.partial`;
    const halfDeleted = id(ago(5)); // a prune interrupted after removing backup.json
    for (const [name, days] of [[stale, 2], [running, 1 / 24], [halfDeleted, 4]] as const) {
      await mkdir(join(repo.base, name));
      await writeFile(join(repo.base, name, 'base.tar.gz'), Buffer.alloc(10));
      const at = ago(days);
      await utimes(join(repo.base, name, 'base.tar.gz'), at, at);
      await utimes(join(repo.base, name), at, at);
    }
    const result = await prune({ keepCount: 1, keepDays: 0 });
    expect(result.deleted.sort()).toEqual([halfDeleted, stale].sort());
    expect(result.kept).toEqual([kept]);
    expect(result.reasons[stale]).toMatch(/interrupted backup/);
    expect(result.reasons[running]).toMatch(/left alone, it may still be running/);
    expect((await onDisk()).base).toEqual([kept, running].sort());
  });
});

describe('pruneBackups: the WAL archive', () => {
  // Timeline 1 up to segment 5, a promotion (00000002.history, switch at 0/5000100), timeline 2
  // from segment 5 on; a .backup file per backup start.
  const archive = [
    seg(1, 1), seg(1, 2), seg(1, 3), seg(1, 4), `${seg(1, 5)}.partial`, `${seg(1, 2)}.00000028.backup`,
    '00000002.history', seg(2, 5), seg(2, 6), seg(2, 7), `${seg(2, 7)}.00000060.backup`, seg(2, 8), seg(2, 9),
  ];

  it('deletes segments, .partial and .backup files before the oldest kept backup, across a timeline switch; .history stays', async () => {
    await wal(...archive);
    await backup(40, { start: seg(1, 2) });
    const b2 = await backup(20, { start: seg(2, 7) });
    await backup(1, { start: seg(2, 9) });
    const result = await prune({ keepCount: 2, keepDays: 0 });
    expect(result.walCutoff).toBe(seg(2, 7));
    expect(result.walDeleted).toEqual([seg(1, 1), seg(1, 2), `${seg(1, 2)}.00000028.backup`, seg(1, 3), seg(1, 4), `${seg(1, 5)}.partial`, seg(2, 5), seg(2, 6)].sort());
    expect(result.walKept).toBe(5);
    expect((await onDisk()).wal).toEqual(['00000002.history', seg(2, 7), `${seg(2, 7)}.00000060.backup`, seg(2, 8), seg(2, 9)].sort());
    // What recovery from the oldest kept backup reads is all there.
    expect((await listBackups(repo)).backups[0]?.id).toBe(b2);
    expect(await checkWalContinuity(repo, seg(2, 7))).toMatchObject({ ok: true, newest: seg(2, 9) });
  });

  it('keeps the parent timeline from the oldest kept backup on, so recovery can cross the switch', async () => {
    await wal(...archive);
    await backup(40, { start: seg(1, 1) });
    await backup(20, { start: seg(1, 3) });
    const result = await prune({ keepCount: 1, keepDays: 0 });
    expect(result.walCutoff).toBe(seg(1, 3));
    expect(result.walDeleted).toEqual([seg(1, 1), seg(1, 2), `${seg(1, 2)}.00000028.backup`]);
    expect(await checkWalContinuity(repo, seg(1, 3))).toMatchObject({ ok: true, timeline: 2, newest: seg(2, 9) });
  });

  it('without any backup nothing says what recovery needs: all WAL stays', async () => {
    await wal(...archive);
    const result = await prune({ keepCount: 0, keepDays: 0 });
    expect(result).toMatchObject({ deleted: [], kept: [], walDeleted: [], walKept: archive.length });
    expect(result.walCutoff).toBeUndefined();
  });

  it('dryRun reports the same lists and changes nothing', async () => {
    await wal(...archive);
    await backup(40, { start: seg(1, 2) });
    await backup(20, { start: seg(2, 7) });
    await backup(1, { start: seg(2, 9) });
    const stale = `${id(ago(3))}.partial`;
    await mkdir(join(repo.base, stale));
    await utimes(join(repo.base, stale), ago(3), ago(3));
    const before = await onDisk();
    const dry = await prune({ keepCount: 2, keepDays: 0, dryRun: true });
    expect(await onDisk()).toEqual(before);
    expect(dry.dryRun).toBe(true);
    const real = await prune({ keepCount: 2, keepDays: 0 });
    expect(real.dryRun).toBe(false);
    expect({ ...dry, dryRun: false }).toEqual(real);
    expect(await onDisk()).not.toEqual(before);
    // Once pruned, a second run has nothing left to do.
    expect(await prune({ keepCount: 2, keepDays: 0 })).toMatchObject({ deleted: [], walDeleted: [], freedBytes: 0 });
  });
});
