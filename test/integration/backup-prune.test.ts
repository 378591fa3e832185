import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { withDatabase } from '../helpers/urls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { listBackups } from '../../src/ops/backup/list.ts';
import { pruneBackups } from '../../src/ops/backup/prune.ts';
import { waitForArchiver } from '../../src/ops/backup/wal.ts';
import { type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { restoreBackup } from '../../src/ops/backup/restore.ts';
import { checkWalContinuity } from '../../src/ops/backup/wal.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { insertUser, readUsers } from '../helpers/users.ts';

// Retention keeps what recovery needs: three backups of a dedicated PostgreSQL 18 (WAL archived
// into its repository by `up`), pruned down to the newest one, and a restore from what is left
// still replays every commit, those after the last backup included.

const CLUSTER_TIMEOUT = 180_000;

describe('backups prune on a real cluster', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  const backups: BackupRecord[] = [];
  const emails: string[] = [];

  const insert = async (step: number) => {
    const email = `prune-${step}-${Date.now()}@example.com`;
    await insertUser(sql, { email, name: `Prune ${step}` });
    emails.push(email);
  };
  const switchAndWaitArchived = () => waitForArchiver(sql);

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-prune-'));
    for (const step of [1, 2, 3]) {
      backups.push((await takeBaseBackup(sql, { repo, fast: true })).record);
      await insert(step);
      await switchAndWaitArchived();
    }
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await down({ dataDir: join(root, 'restored') }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('keeps the newest backup and its WAL, deletes the rest, and a --latest restore from it has every row', { timeout: CLUSTER_TIMEOUT }, async () => {
    const [b1, b2, b3] = backups;
    if (!b1 || !b2 || !b3) throw new Error('three backups expected');
    const walBefore = await readdir(repo.wal);
    expect(walBefore).toContain(b1.startWalFile);

    const dry = await pruneBackups(repo, { keepCount: 1, keepDays: 0, dryRun: true });
    expect(await readdir(repo.wal)).toEqual(expect.arrayContaining(walBefore));
    const result = await pruneBackups(repo, { keepCount: 1, keepDays: 0 });
    expect(result.deleted).toEqual([b1.id, b2.id]);
    expect(result.kept).toEqual([b3.id]);
    expect(dry.deleted).toEqual(result.deleted);
    expect(dry.walDeleted).toEqual(result.walDeleted);
    expect(result.walCutoff).toBe(b3.startWalFile);
    expect(result.walDeleted).toContain(b1.startWalFile);
    expect(result.walDeleted).toContain(b2.stopWalFile);
    expect(result.freedBytes).toBeGreaterThan(b1.storedBytes + b2.storedBytes);

    const walAfter = await readdir(repo.wal);
    expect(walAfter).not.toContain(b1.startWalFile);
    expect(walAfter).toContain(b3.startWalFile);
    expect((await listBackups(repo)).backups.map((b) => b.id)).toEqual([b3.id]);
    expect(await checkWalContinuity(repo, b3.startWalFile)).toMatchObject({ ok: true, missing: [] });

    // The proof: recovery from what is left replays up to the last archived commit.
    const as = await serverOsUser();
    const restored = await restoreBackup({
      repo,
      to: join(root, 'restored'),
      target: { latest: true },
      start: { port: 0 },
      sourceDataDir: dataDir,
      timeoutSeconds: 120,
      ...(as ? { as } : {}),
    });
    expect(restored.backupId).toBe(b3.id);
    const database = readLocalState(localLayout(dataDir))?.database ?? 'jeex';
    const client = connect(withDatabase(restored.url ?? '', database), { max: 1, onnotice: () => {} });
    try {
      const rows = (await readUsers(client)).map((r) => r.email).filter((email) => email.startsWith('prune-'));
      expect(rows.sort()).toEqual([...emails].sort());
    } finally {
      await client.end({ timeout: 1 });
    }
  });
});
