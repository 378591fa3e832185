import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/backup/base-backup.ts';
import { listBackups } from '../../src/backup/list.ts';
import { pruneBackups } from '../../src/backup/prune.ts';
import { defaultRepo, type BackupRecord, type BackupRepo } from '../../src/backup/repo.ts';
import { restoreBackup } from '../../src/backup/restore.ts';
import { checkWalContinuity } from '../../src/backup/wal.ts';
import { localLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/server/os-user.ts';
import { freePort } from '../../src/server/port.ts';
import { down, up } from '../../src/server/up.ts';
import { reachableTempDir } from '../helpers/cli.ts';

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
    await sql`INSERT INTO users (email, name) VALUES (${email}, ${`Prune ${step}`})`;
    emails.push(email);
  };
  const switchAndWaitArchived = async () => {
    await sql`SELECT pg_switch_wal()`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [row] = await sql<{ pending: boolean }[]>`
        SELECT last_archived_wal IS DISTINCT FROM pg_walfile_name(pg_current_wal_lsn() - 1) AS pending FROM pg_stat_archiver`;
      if (!row?.pending) return;
      if (Date.now() > deadline) throw new Error('the archiver did not catch up within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  beforeAll(async () => {
    root = await reachableTempDir('jeex-prune-');
    dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
    const layout = localLayout(dataDir);
    repo = defaultRepo(layout);
    const url = localUrl(layout, 'superuser', { database: readLocalState(layout)?.database ?? 'jeex' });
    if (!url) throw new Error('no local cluster');
    sql = postgres(url, { max: 2, onnotice: () => {} });
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
    const client = postgres((restored.url ?? '').replace(/\/postgres$/, `/${database}`), { max: 1, onnotice: () => {} });
    try {
      const rows = await client<{ email: string }[]>`SELECT email FROM users WHERE email LIKE 'prune-%' ORDER BY email`;
      expect(rows.map((r) => r.email)).toEqual([...emails].sort());
    } finally {
      await client.end({ timeout: 1 });
    }
  });
});
