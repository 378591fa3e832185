import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { create, extract, list, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { listBackups } from '../../src/ops/backup/list.ts';
import { manifestChecksumValid, parseManifest } from '../../src/ops/backup/manifest.ts';
import { backupRepo, defaultRepo, type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { verifyBackupFiles } from '../../src/ops/backup/verify-files.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';
import { insertUser } from '../helpers/users.ts';

// A dedicated PostgreSQL 18 (started with the project's own `up`, WAL archived into the default
// repository) so backups, archive switches and forced failures do not disturb other test files.

const CLUSTER_TIMEOUT = 120_000;

/** name → { size, sha256 } of every file entry in a tarball. */
async function tarFiles(file: string): Promise<Map<string, { size: number; type: string }>> {
  const entries = new Map<string, { size: number; type: string }>();
  await list({ file, onReadEntry: (entry: ReadEntry) => void entries.set(entry.path, { size: entry.size, type: entry.type }) });
  return entries;
}

describe('base backups (takeBaseBackup, verifyBackupFiles, listBackups)', () => {
  let root: string;
  let dataDir: string;
  let layout: LocalLayout;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let record: BackupRecord;
  let writerRows = 0;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-backup-');
    dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
    layout = localLayout(dataDir);
    repo = defaultRepo(layout);
    const state = readLocalState(layout);
    const url = localUrl(layout, 'superuser', state ? { database: state.database } : {});
    if (!url) throw new Error('no local url');
    sql = connect(url, { max: 5, onnotice: () => {} });
    const [settings] = await sql<{ mode: string; library: string }[]>`SELECT current_setting('archive_mode') AS mode, current_setting('archive_library') AS library`;
    // `up` configures archiving into <repo>/wal; this test depends on it.
    expect(settings).toEqual({ mode: 'on', library: 'basic_archive' });
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('takes a backup while a writer inserts rows', async () => {
    let writing = true;
    // Three writers: the count-to-stop window is a few milliseconds, and one writer's round trips
    // on two loaded cores can miss it (the record then says, rightly, that the counts are exact).
    let next = 0;
    const writer = Promise.all(
      [0, 1, 2].map(async () => {
        while (writing) {
          await insertUser(sql, { email: `w${next++}@example.com`, name: 'writer' });
          writerRows += 1;
        }
      }),
    );
    const phases = new Set<string>();
    let lastBytes = 0;
    try {
      // Let the writer get going before the backup starts.
      while (writerRows < 20) await new Promise((resolve) => setTimeout(resolve, 10));
      ({ record } = await takeBaseBackup(sql, {
        repo,
        fast: true,
        onProgress: (p) => {
          phases.add(p.phase);
          lastBytes = p.bytesDone;
        },
      }));
    } finally {
      writing = false;
      await writer;
    }
    expect(writerRows).toBeGreaterThan(20);
    expect([...phases]).toEqual(['checkpoint', 'copy', 'stop', 'done']);
    // Progress counted the data files' bytes (backup_label is added after the copy).
    expect(lastBytes).toBeGreaterThan(1_000_000);
    expect(lastBytes).toBeLessThan(record.sizeBytes);
    expect(record.rowCounts.users).toBeGreaterThanOrEqual(20);
    // The writer committed between the count and pg_backup_stop's end: verify must not compare exactly.
    expect(record.rowCountsExact).toBe(false);
    expect(Object.keys(record.rowCounts).sort()).toEqual(['agent_executions', 'document_versions', 'exports', 'projects', 'users']);
    expect(record.startWalFile <= record.stopWalFile).toBe(true);
    expect(await readdir(repo.wal)).toEqual(expect.arrayContaining([record.startWalFile, record.stopWalFile]));
    // Only the complete backup is there: no .partial left behind.
    expect(await readdir(repo.base)).toEqual([record.id]);
    const onDisk = JSON.parse(await readFile(join(repo.base, record.id, 'backup.json'), 'utf8')) as BackupRecord;
    expect(onDisk).toEqual(record);
  }, 60_000);

  it('writes a manifest that matches the tarball, with a valid checksum', async () => {
    const dir = join(repo.base, record.id);
    const text = await readFile(join(dir, 'backup_manifest'), 'utf8');
    expect(text.startsWith('{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ')).toBe(true);
    expect(manifestChecksumValid(text).ok).toBe(true);
    const manifest = parseManifest(text);
    expect(manifest.systemIdentifier).toBe(record.systemIdentifier);
    expect(manifest.walRanges).toEqual([{ timeline: record.timeline, startLsn: record.startLsn, endLsn: record.stopLsn }]);
    const files = [...(await tarFiles(join(dir, 'base.tar.gz')))].filter(([, e]) => e.type === 'File');
    expect(new Map(files.map(([path, e]) => [path, e.size]))).toEqual(new Map(manifest.files.map((f) => [f.path, f.size])));
    expect(manifest.files.length).toBe(record.files);
  });

  it('puts backup_label into the tarball, not into the live data directory, and leaves out what PostgreSQL recreates', async () => {
    const entries = await tarFiles(join(repo.base, record.id, 'base.tar.gz'));
    expect(entries.has('backup_label')).toBe(true);
    await expect(stat(join(layout.pgdata, 'backup_label'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(entries.has('postmaster.pid')).toBe(false);
    expect(entries.has('postmaster.opts')).toBe(false);
    expect(entries.get('pg_wal/')?.type).toBe('Directory');
    expect(entries.get('pg_wal/archive_status/')?.type).toBe('Directory');
    expect([...entries.keys()].filter((path) => /^pg_wal\/[0-9A-F]{24}/.test(path))).toEqual([]);
    expect([...entries.keys()].filter((path) => /^(pg_replslot|pg_stat_tmp|pg_subtrans|pg_notify|pg_dynshmem)\/./.test(path))).toEqual([]);
    expect(entries.has('global/pg_control')).toBe(true);
    expect(entries.has('PG_VERSION')).toBe(true);
    const label = await new Promise<string>((resolve) => {
      let text = '';
      void list({ file: join(repo.base, record.id, 'base.tar.gz'), filter: (path) => path === 'backup_label', onReadEntry: (e: ReadEntry) => e.on('data', (c: Buffer) => (text += c.toString())).on('end', () => resolve(text)) });
    });
    expect(label).toContain(`START WAL LOCATION: ${record.startLsn} (file ${record.startWalFile})`);
    expect(label).toContain(`LABEL: jeex-db ${record.id}`);
  });

  it('records exact row counts when nothing else commits', async () => {
    // No autovacuum/autoanalyze transaction either (analyze commits, which would make it inexact).
    await sql`ALTER SYSTEM SET autovacuum = off`;
    await sql`SELECT pg_reload_conf()`;
    const { record: quiet } = await takeBaseBackup(sql, { repo, fast: true, label: 'quiet' });
    const [row] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM users`;
    expect(quiet.rowCounts.users).toBe(Number(row?.n));
    expect(quiet.rowCounts.users).toBe(writerRows);
    expect(quiet.rowCountsExact).toBe(true);
    expect(quiet.label).toBe('quiet');
  }, 60_000);

  it('does not leave the server in backup mode when the copy fails', async () => {
    // One connection, so the session that ran pg_backup_start is the one we ask afterwards.
    const one = connect(localUrl(layout, 'superuser') ?? '', { max: 1, onnotice: () => {} });
    try {
      const failure = await takeBaseBackup(one, {
        repo,
        fast: true,
        onProgress: (p) => {
          if (p.phase === 'copy' && p.filesDone > 5) throw new Error('disk full (simulated)');
        },
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(JeexDbError);
      expect((failure as JeexDbError).code).toBe('BACKUP_FAILED');
      expect((failure as JeexDbError).message).toMatch(/disk full \(simulated\).*not left in backup mode/);
      // The same session is no longer in backup mode, and nothing half-written is in the repository.
      await expect(one`SELECT pg_backup_stop(false)`).rejects.toThrow(/backup is not in progress/);
      expect((await readdir(repo.base)).filter((name) => name.endsWith('.partial'))).toEqual([]);

      // A repository that cannot be written fails before pg_backup_start, naming the directory.
      const blocked = join(root, 'blocked');
      await writeFile(blocked, 'a file where the repository should be');
      const notWritable = await takeBaseBackup(one, { repo: backupRepo(blocked), fast: true }).catch((error: unknown) => error);
      expect((notWritable as JeexDbError).code).toBe('BACKUP_FAILED');
      expect((notWritable as JeexDbError).message).toContain(join(blocked, 'base'));
      await expect(one`SELECT pg_backup_stop(false)`).rejects.toThrow(/backup is not in progress/);
    } finally {
      await one.end({ timeout: 5 });
    }
  }, 60_000);

  it('verifies the files, and names a corrupted file and a missing WAL segment', async () => {
    const good = await verifyBackupFiles(repo, record.id);
    expect(good.problems).toEqual([]);
    expect(good.ok).toBe(true);
    expect(good.filesChecked).toBe(record.files);

    // A copy of the repository with one byte of one file changed inside the tarball.
    const copy = backupRepo(join(root, 'copy'));
    await cp(repo.root, copy.root, { recursive: true });
    const unpacked = join(root, 'unpacked');
    await mkdir(unpacked);
    await extract({ file: join(copy.base, record.id, 'base.tar.gz'), cwd: unpacked });
    const victim = 'PG_VERSION';
    const bytes = await readFile(join(unpacked, victim));
    bytes[0] = bytes[0] === 0x31 ? 0x32 : 0x31;
    await writeFile(join(unpacked, victim), bytes);
    await rm(join(copy.base, record.id, 'base.tar.gz'));
    await create({ file: join(copy.base, record.id, 'base.tar.gz'), gzip: true, cwd: unpacked }, await readdir(unpacked));
    const corrupted = await verifyBackupFiles(copy, record.id);
    expect(corrupted.ok).toBe(false);
    expect(corrupted.problems).toEqual([expect.objectContaining({ kind: 'changed', path: victim })]);

    // Another copy whose archive lacks the backup's first WAL segment.
    const noWal = backupRepo(join(root, 'no-wal'));
    await cp(repo.root, noWal.root, { recursive: true });
    await rm(join(noWal.wal, record.startWalFile));
    const gap = await verifyBackupFiles(noWal, record.id);
    expect(gap.ok).toBe(false);
    expect(gap.missingWal).toContain(record.startWalFile);
    expect(gap.problems).toContainEqual(expect.objectContaining({ kind: 'wal', path: record.startWalFile }));
  }, 60_000);

  it('lists complete backups only, with the recovery window', async () => {
    await mkdir(join(repo.base, '20990101T000000Z.partial'));
    const listed = await listBackups(repo);
    expect(listed.backups.map((b) => b.id)).not.toContain('20990101T000000Z.partial');
    expect(listed.backups.map((b) => b.id)).toContain(record.id);
    expect(listed.backups).toHaveLength(2);
    const first = listed.backups[0];
    expect(first).toMatchObject({ id: record.id, startLsn: record.startLsn, stopLsn: record.stopLsn, verified: 'unverified', encrypted: false, storedBytes: record.storedBytes });
    expect(listed.window?.earliest).toBe(record.stoppedAt);
    expect(listed.window && listed.window.latest >= listed.window.earliest).toBe(true);
    await rm(join(repo.base, '20990101T000000Z.partial'), { recursive: true });
  });
});

