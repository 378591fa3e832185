import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanArchiveTemp } from '../../src/ops/backup/archive-temp.ts';
import { backupHistoryName, labelTime, parseBackupLabel } from '../../src/ops/backup/backup-label.ts';
import { damagedCandidates, readBackupCatalog, type DamagedBackup } from '../../src/ops/backup/catalog.ts';
import { renderManifest } from '../../src/ops/backup/manifest.ts';
import { pruneBackups } from '../../src/ops/backup/prune.ts';
import { recordMismatches, type BackupFacts } from '../../src/ops/backup/record-consistency.ts';
import { parseBackupRecord } from '../../src/ops/backup/record-schema.ts';
import { backupRepo, type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';

// The backup record's parsing and its comparison with what the server wrote; the catalog and
// prune over a fake repository with damaged records; basic_archive's leftovers. No database.

const LABEL = `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000080
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-25 17:45:01 UTC
LABEL: jeex-db 20261125T174501Z
START TIMELINE: 1
`;
const HISTORY = `${LABEL.replace('CHECKPOINT', 'STOP WAL LOCATION: 0/2000138 (file 000000010000000000000002)\nCHECKPOINT')}STOP TIME: 2026-11-25 17:45:09 UTC\nSTOP TIMELINE: 1\n`;

const record: BackupRecord = {
  id: '20261125T174501Z',
  format: 'tar.gz',
  startedAt: '2026-11-25T17:45:01.120Z',
  stoppedAt: '2026-11-25T17:45:09.800Z',
  startLsn: '0/2000028',
  stopLsn: '0/2000138',
  timeline: 1,
  startWalFile: '000000010000000000000002',
  stopWalFile: '000000010000000000000002',
  systemIdentifier: '7000000000000000001',
  serverVersion: '18.4',
  sizeBytes: 30,
  storedBytes: 100,
  files: 2,
  rowCounts: { users: 3 },
  label: 'jeex-db 20261125T174501Z',
  walSegmentBytes: 16 * 2 ** 20,
};
const manifestText = renderManifest({
  systemIdentifier: record.systemIdentifier,
  files: [
    { path: 'PG_VERSION', size: 3, mtime: new Date(0), sha256: 'a'.repeat(64) },
    { path: 'base/1/1259', size: 27, mtime: new Date(0), sha256: 'b'.repeat(64) },
  ],
  walRanges: [{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000138' }],
}).text;

describe('parseBackupRecord', () => {
  it('accepts a sound record and names what is wrong with a damaged one', () => {
    const text = JSON.stringify(record);
    expect(parseBackupRecord(text, record.id)).toEqual({ ok: true, record });
    const problem = (parsed: ReturnType<typeof parseBackupRecord>) => (parsed.ok ? 'sound' : parsed.problem);
    expect(problem(parseBackupRecord(`[${text.slice(1)}`, record.id))).toMatch(/^not valid JSON/);
    expect(problem(parseBackupRecord(text.slice(0, 40), record.id))).toMatch(/^not valid JSON/);
    expect(parseBackupRecord(JSON.stringify({ ...record, stopLsn: 'far away' }), record.id)).toEqual({ ok: false, problem: 'stopLsn: an LSN like 0/2000028' });
    const { startWalFile: _gone, ...withoutStart } = record;
    expect(problem(parseBackupRecord(JSON.stringify(withoutStart), record.id))).toMatch(/^startWalFile: /);
    expect(parseBackupRecord(JSON.stringify(record), '20261125T174502Z')).toEqual({ ok: false, problem: "its id 20261125T174501Z is not its directory's name 20261125T174502Z" });
  });
});

describe('backup_label and the backup history file', () => {
  it('parses both, their times, and names the history file as the server does', () => {
    expect(parseBackupLabel(LABEL)).toEqual({
      startLsn: '0/2000028',
      startWalFile: '000000010000000000000002',
      checkpointLsn: '0/2000080',
      startTime: '2026-11-25 17:45:01 UTC',
      label: 'jeex-db 20261125T174501Z',
      startTimeline: 1,
    });
    expect(parseBackupLabel(HISTORY)).toMatchObject({ stopLsn: '0/2000138', stopWalFile: '000000010000000000000002', stopTime: '2026-11-25 17:45:09 UTC', stopTimeline: 1 });
    expect(parseBackupLabel('LABEL: nothing else\n')).toBeUndefined();
    expect(labelTime('2026-11-25 17:45:09 UTC')?.toISOString()).toBe('2026-11-25T17:45:09.000Z');
    expect(labelTime('2026-11-25 18:45:09 +01')?.toISOString()).toBe('2026-11-25T17:45:09.000Z');
    expect(labelTime('2026-11-25 18:45:09 CET')).toBeUndefined();
    expect(backupHistoryName('000000010000000000000002', '0/2000028')).toBe('000000010000000000000002.00000028.backup');
    expect(backupHistoryName('00000001000000000000000A', '0/A0001F0')).toBe('00000001000000000000000A.000001F0.backup');
  });
});

describe('recordMismatches', () => {
  const facts = (): BackupFacts => ({
    label: parseBackupLabel(LABEL),
    manifest: { version: 2, systemIdentifier: record.systemIdentifier, files: [{ path: 'PG_VERSION', size: 3, mtime: new Date(0), sha256: '' }, { path: 'base/1/1259', size: 27, mtime: new Date(0), sha256: '' }], walRanges: [{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000138' }], checksum: '' },
    history: { name: '000000010000000000000002.00000028.backup', history: parseBackupLabel(HISTORY) },
  });

  it('a record that agrees with its backup has none', () => {
    expect(recordMismatches(record, facts())).toEqual([]);
  });

  it('names each edited field with its value and what the backup says', () => {
    expect(recordMismatches({ ...record, stopLsn: '0/3000000' }, facts())).toEqual([
      "backup.json says stopLsn 0/3000000, but backup_manifest's WAL-Ranges says End-LSN 0/2000138",
      "backup.json says stopLsn 0/3000000, but the archive's backup history file 000000010000000000000002.00000028.backup says STOP WAL LOCATION 0/2000138",
    ]);
    expect(recordMismatches({ ...record, startLsn: '0/1000028' }, facts()).join('\n')).toContain("backup.json says startLsn 0/1000028, but backup_label's START WAL LOCATION says 0/2000028");
    expect(recordMismatches({ ...record, startWalFile: '000000010000000000000001' }, facts())).toEqual([
      "backup.json says startWalFile 000000010000000000000001, but backup_label's START WAL LOCATION says 000000010000000000000002",
    ]);
    expect(recordMismatches({ ...record, stopWalFile: '000000010000000000000003' }, facts())).toEqual([
      "backup.json says stopWalFile 000000010000000000000003, but backup_manifest's End-LSN says 0/2000138 (file 000000010000000000000002)",
    ]);
    expect(recordMismatches({ ...record, timeline: 2 }, facts()).length).toBeGreaterThanOrEqual(2);
    expect(recordMismatches({ ...record, stoppedAt: '2026-11-25T17:00:00.000Z' }, facts())).toEqual([
      "backup.json says stoppedAt 2026-11-25T17:00:00.000Z, but the archive's backup history file 000000010000000000000002.00000028.backup says STOP TIME 2026-11-25 17:45:09 UTC",
    ]);
    expect(recordMismatches({ ...record, files: 7, sizeBytes: 1 }, facts())).toHaveLength(2);
    expect(recordMismatches(record, { ...facts(), label: undefined })).toEqual(['the tarball holds no backup_label: nothing says where WAL replay must start']);
  });
});

describe('damagedCandidates', () => {
  const damaged = (id: string): DamagedBackup => ({ id, recordFile: `/r/base/${id}/backup.json`, problem: 'x', tarball: 'base.tar.gz', manifest: true });
  const picked = { ...record, id: '20261120T000000Z' };
  it('newer damaged backups could have been the newest fitting one; older ones the oldest; none that started after the target time', () => {
    const list = [damaged('20261110T000000Z'), damaged('20261125T000000Z')];
    expect(damagedCandidates(list, picked, 'newest').map((d) => d.id)).toEqual(['20261125T000000Z']);
    expect(damagedCandidates(list, picked, 'oldest').map((d) => d.id)).toEqual(['20261110T000000Z']);
    expect(damagedCandidates(list, picked, 'newest', new Date('2026-11-24T00:00:00Z'))).toEqual([]);
    expect(damagedCandidates(list, undefined, 'newest', new Date('2026-11-24T00:00:00Z')).map((d) => d.id)).toEqual(['20261110T000000Z']);
  });
});

describe('a fake repository with damaged records', () => {
  let repo: BackupRepo;
  beforeEach(async () => {
    repo = backupRepo(await mkdtemp(join(tmpdir(), 'jeex-records-unit-')));
    await mkdir(repo.base, { recursive: true });
    await mkdir(repo.wal, { recursive: true });
  });
  afterEach(async () => {
    await rm(repo.root, { recursive: true, force: true });
  });

  async function backupDir(id: string, files: { record?: string; manifest?: boolean } = {}): Promise<string> {
    const dir = join(repo.base, id);
    await mkdir(dir);
    await writeFile(join(dir, 'base.tar.gz'), Buffer.alloc(100));
    if (files.manifest !== false) await writeFile(join(dir, 'backup_manifest'), manifestText);
    if (files.record !== undefined) await writeFile(join(dir, 'backup.json'), files.record);
    return dir;
  }

  it('the catalog lists damaged and record-less backups apart, and skips .partial, .deleting and a tarball alone', async () => {
    await backupDir(record.id, { record: JSON.stringify(record) });
    await backupDir('20261126T000000Z', { record: '{"id": "2026' });
    await backupDir('20261127T000000Z');
    await backupDir('20261128T000000Z', { manifest: false });
    await backupDir('20261129T000000Z.partial', { record: JSON.stringify(record) });
    await backupDir(`${record.id}.deleting`, { record: JSON.stringify(record) });
    const catalog = await readBackupCatalog(repo);
    expect(catalog.backups.map((b) => b.id)).toEqual([record.id]);
    expect(catalog.damaged.map((d) => [d.id, d.recordFile, d.tarball, d.manifest])).toEqual([
      ['20261126T000000Z', join(repo.base, '20261126T000000Z', 'backup.json'), 'base.tar.gz', true],
      ['20261127T000000Z', join(repo.base, '20261127T000000Z', 'backup.json'), 'base.tar.gz', true],
    ]);
    expect(catalog.damaged[0]?.problem).toMatch(/^backup\.json is damaged: not valid JSON/);
    expect(catalog.damaged[1]?.problem).toBe('backup.json is missing');
  });

  it('prune keeps a backup with a damaged record and the WAL from its start (per its manifest); it finishes a .deleting directory', async () => {
    const seg = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
    for (const n of [1, 2, 3]) await writeFile(join(repo.wal, seg(n)), Buffer.alloc(64));
    // An old sound backup (start 3) and a damaged one starting at segment 2 (its manifest says).
    const newer = { ...record, id: '20261127T000000Z', startedAt: '2026-11-27T00:00:00.000Z', stoppedAt: '2026-11-27T00:01:00.000Z', startLsn: '0/3000028', startWalFile: seg(3), stopWalFile: seg(3) };
    await backupDir(newer.id, { record: JSON.stringify(newer) });
    await backupDir(record.id, { record: '{ damaged' });
    await backupDir('20261101T000000Z.deleting');
    const result = await pruneBackups(repo, { keepCount: 1, keepDays: 0, env: {}, now: () => new Date('2026-12-01T00:00:00Z') });
    expect(result.damaged).toEqual([record.id]);
    expect(result.reasons[record.id]).toMatch(/backup\.json is damaged.*left alone with its WAL; run `jeex-db backups repair 20261125T174501Z`/);
    expect(result.walCutoff).toBe(seg(2));
    expect(result.walDeleted).toEqual([seg(1)]);
    expect(result.deleted).toEqual(['20261101T000000Z.deleting']);
    expect((await readdir(repo.base)).sort()).toEqual([record.id, newer.id]);
    expect(await readFile(join(repo.base, record.id, 'backup.json'), 'utf8')).toBe('{ damaged');
  });

  it('prune deletes a backup by renaming it to <id>.deleting first, so an interrupted prune is never taken for a backup', async () => {
    const old = { ...record, id: '20261101T000000Z', startedAt: '2026-11-01T00:00:00.000Z', stoppedAt: '2026-11-01T00:01:00.000Z' };
    await backupDir(old.id, { record: JSON.stringify(old) });
    await backupDir(record.id, { record: JSON.stringify(record) });
    const result = await pruneBackups(repo, { keepCount: 1, keepDays: 0, env: {}, now: () => new Date('2026-12-01T00:00:00Z') });
    expect(result.deleted).toEqual([old.id]);
    expect(await readdir(repo.base)).toEqual([record.id]);
  });

  it("cleanArchiveTemp removes basic_archive's archtemp files untouched for 10 minutes, keeps younger ones and anything else", async () => {
    const names = {
      stale: 'archtemp.000000010000000000000005.4242.1764092701000',
      staleHistory: 'archtemp.00000002.history.4242.1764092702000',
      fresh: 'archtemp.000000010000000000000006.4242.1764092703000',
      segment: '000000010000000000000005',
      other: 'archtemp-notes.txt',
    };
    for (const name of Object.values(names)) await writeFile(join(repo.wal, name), Buffer.alloc(1000));
    const now = Date.now();
    for (const name of [names.stale, names.staleHistory, names.segment, names.other]) await utimes(join(repo.wal, name), new Date(now - 11 * 60_000), new Date(now - 11 * 60_000));
    const dry = await cleanArchiveTemp(repo, { dryRun: true });
    expect(dry.removed.map((f) => f.name)).toEqual([names.staleHistory, names.stale].sort());
    expect((await readdir(repo.wal)).length).toBe(5);
    const result = await cleanArchiveTemp(repo);
    expect(result.removed.map((f) => [f.name, f.walFile, f.pid])).toEqual([
      [names.stale, '000000010000000000000005', 4242],
      [names.staleHistory, '00000002.history', 4242],
    ].sort());
    expect(result.kept.map((f) => f.name)).toEqual([names.fresh]);
    expect(result.freedBytes).toBe(2000);
    expect((await readdir(repo.wal)).sort()).toEqual([names.segment, names.fresh, names.other].sort());
  });
});

describe('durable writes in the backup code', () => {
  it('no file under src/ops/backup renames without the fsyncing helper, and the tarball is flushed before it is closed', async () => {
    const dir = join(import.meta.dirname, '..', '..', 'src', 'ops', 'backup');
    const offenders: string[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.ts') || name === 'durable-fs.ts') continue;
      const text = await readFile(join(dir, name), 'utf8');
      if (/\brename\s*\(/.test(text) || /import \{[^}]*\brename\b[^}]*\} from 'node:fs/.test(text)) offenders.push(name);
    }
    expect(offenders).toEqual([]);
    expect(await readFile(join(dir, 'tar-gz-writer.ts'), 'utf8')).toMatch(/createWriteStream\(file, \{[^}]*flush: true/);
  });
});
