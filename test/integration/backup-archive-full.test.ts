import { execFile } from 'node:child_process';
import { readdir, rm, stat, statfs, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { pruneBackups } from '../../src/ops/backup/prune.ts';
import type { BackupRepo } from '../../src/ops/backup/repo.ts';
import { archiveStatus, waitForArchiver } from '../../src/ops/backup/wal.ts';
import { connect } from '../../src/db/connect.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localUrl } from '../../src/local/state.ts';
import { localLayout } from '../../src/local/layout.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down, up } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { skipOrFail } from '../helpers/skip.ts';

// A WAL archive that runs out of space, for real: a small tmpfs mounted over the cluster's
// `<repo>/wal` (we run as root; skipped, or failed under JEEX_TEST_STRICT=1, when mount is not
// permitted). basic_archive then fails with ENOSPC and leaves its archtemp.* files behind.

const CLUSTER_TIMEOUT = 180_000;
const run = promisify(execFile);

describe('a full WAL archive during a backup, and basic_archive leftovers', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let port: number;
  let mounted = false;
  let mountProblem = '';
  const filler = () => join(repo.wal, 'filler');

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-archive-full-'));
    port = Number(new URL(localUrl(localLayout(dataDir), 'superuser') ?? '').port);
    const as = await serverOsUser();
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=64m,mode=0700${as ? `,uid=${as.uid},gid=${as.gid}` : ''}`, 'tmpfs', repo.wal]);
      mounted = true;
    } catch (error) {
      mountProblem = `cannot mount a tmpfs over ${repo.wal}: ${(error as Error).message.trim()}`;
    }
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (mounted) await run('umount', [repo.wal]).catch(() => run('umount', ['-l', repo.wal]));
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('a backup whose archive is full fails within seconds as BACKUP_WAL_MISSING saying the disk is full, and leaves backup mode', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    if (!mounted) skipOrFail(ctx, mountProblem);
    // Archiving works on the tmpfs first.
    await waitForArchiver(sql);
    // Then the file system is filled but for 1 MiB: no 16 MiB segment fits.
    const { bavail, bsize } = await statfs(repo.wal);
    await writeFile(filler(), Buffer.alloc(bavail * bsize - 2 ** 20));
    const before = await archiveStatus(sql);

    const one = connect(localUrl(localLayout(dataDir), 'superuser') ?? '', { max: 1, onnotice: () => {} });
    try {
      const started = Date.now();
      // 60 s is what pg_backup_stop's own wait would take here before a statement timeout.
      const failure = await takeBaseBackup(one, { repo, fast: true, archiveWaitSeconds: 60 }).catch((error: unknown) => error);
      const elapsed = Date.now() - started;
      expect(failure).toBeInstanceOf(JeexDbError);
      expect((failure as JeexDbError).code).toBe('BACKUP_WAL_MISSING');
      expect((failure as JeexDbError).message).toContain(`disk full at ${repo.wal}`);
      expect((failure as JeexDbError).message).toMatch(/The WAL archive is failing/);
      expect((failure as JeexDbError).message).not.toMatch(/statement timeout/i);
      expect((failure as JeexDbError).hint).toMatch(/free space/);
      expect(elapsed).toBeLessThan(20_000);
      // The archiver did fail, and the backup is neither kept nor running on the server.
      expect((await archiveStatus(sql)).failedCount).toBeGreaterThan(before.failedCount);
      expect(await readdir(repo.base)).toEqual([]);
      await expect(one`SELECT pg_backup_stop(false)`).rejects.toThrow(/backup is not in progress/);
    } finally {
      await one.end({ timeout: 5 });
    }
  });

  it("basic_archive's archtemp files left by the failed copies: up removes the stale ones and reports them, keeps a recent one; prune removes it once stale", { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    if (!mounted) skipOrFail(ctx, mountProblem);
    // Real leftovers: basic_archive does not remove its temporary copy when the copy fails.
    const leftovers = (await readdir(repo.wal)).filter((name) => name.startsWith('archtemp.')).sort();
    expect(leftovers.length).toBeGreaterThanOrEqual(2);
    expect(leftovers[0]).toMatch(/^archtemp\.[0-9A-F]{24}\.\d+\.\d+$/);
    await unlink(filler());
    // All but the newest as they would be after 20 minutes; the newest could still be in progress.
    const recent = leftovers.at(-1) ?? '';
    const stale = leftovers.slice(0, -1);
    const then = new Date(Date.now() - 20 * 60_000);
    for (const name of stale) await utimes(join(repo.wal, name), then, then);

    const result = await up({ dataDir, port, memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
    expect(result.status).toBe('already-running');
    expect(result.walArchive?.tempFilesRemoved).toEqual(stale);
    expect(result.notes).toContainEqual(expect.stringMatching(new RegExp(`removed ${stale.length} stale basic_archive temporary file\\(s\\) from ${repo.wal}`)));
    const after = await readdir(repo.wal);
    for (const name of stale) expect(after).not.toContain(name);
    expect(after).toContain(recent);

    // With the space back, archiving recovers and the backlog reaches the archive.
    await waitForArchiver(sql, 60_000);
    expect((await archiveStatus(sql)).failing).toBe(false);

    // Ten minutes later, prune takes the last one too, and says so.
    const size = (await stat(join(repo.wal, recent))).size;
    const pruned = await pruneBackups(repo, { now: () => new Date(Date.now() + 11 * 60_000), env: {} });
    expect(pruned.archiveTempDeleted).toEqual([recent]);
    expect(pruned.freedBytes).toBeGreaterThanOrEqual(size);
    expect((await readdir(repo.wal)).filter((name) => name.startsWith('archtemp.'))).toEqual([]);
  });
});
