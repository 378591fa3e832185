import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { withDatabase } from '../helpers/urls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { restoreBackup, type RestoreTarget } from '../../src/ops/backup/restore.ts';
import { proveRestore } from '../../src/ops/backup/verify-restore.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { listWalArchive, waitForArchiver } from '../../src/ops/backup/wal.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { insertUser, rawUser, readUsers } from '../helpers/users.ts';

// Point-in-time restore on a dedicated PostgreSQL 18 (started by the project's own `up`, WAL
// archived into its repository): rows committed before each target are there after the
// restore, rows committed after it are not.

const CLUSTER_TIMEOUT = 180_000;

describe('restore and point-in-time recovery', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let backup: BackupRecord;
  /** What was committed around the targets. */
  const marks = { before: '', after: '', time: new Date(0), lsn: '', xid: '', name: 'jeex-test before b' };

  const emails = async (url: string) => {
    const restored = connect(withDatabase(url, readLocalState(localLayout(dataDir))?.database ?? 'jeex'), { max: 1, onnotice: () => {} });
    try {
      // Encrypted at rest: decrypted with the run's keys (a restore needs the keys, kept outside the backup).
      return (await readUsers(restored)).map((r) => r.email).filter((email) => email.startsWith('pitr-')).sort();
    } finally {
      await restored.end({ timeout: 1 });
    }
  };
  const restoreTo = async (name: string, target: RestoreTarget) => {
    const as = await serverOsUser();
    return restoreBackup({ repo, to: join(root, name), target, start: { port: 0 }, sourceDataDir: dataDir, timeoutSeconds: 120, ...(as ? { as } : {}) });
  };
  const stop = async (name: string) => {
    await down({ dataDir: join(root, name) }).catch(() => undefined);
  };

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-restore-'));
    ({ record: backup } = await takeBaseBackup(sql, { repo, fast: true }));

    // Row a, then the targets, then row b (each its own transaction).
    marks.before = `pitr-a-${Date.now()}@example.com`;
    marks.after = `pitr-b-${Date.now()}@example.com`;
    const before = rawUser(marks.before, 'Before');
    const [a] = await sql<{ xid: string }[]>`
      INSERT INTO users (id, email, email_hash, name) VALUES (${before.id}, ${before.email}, ${before.email_hash}, ${before.name}) RETURNING xmin::text AS xid`;
    marks.xid = a?.xid ?? '';
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [now] = await sql<{ t: Date; lsn: string }[]>`SELECT clock_timestamp() AS t, pg_current_wal_lsn()::text AS lsn`;
    marks.time = now?.t ?? new Date();
    marks.lsn = now?.lsn ?? '';
    await sql`SELECT pg_create_restore_point(${marks.name})`;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await insertUser(sql, { email: marks.after, name: 'After' });
    // Archive everything: a target is reached only when a commit after it is archived.
    await waitForArchiver(sql);
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('to a time: rows committed before it are there, rows after it are not; a working server with the schema', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await restoreTo('by-time', { time: marks.time });
    try {
      expect(result).toMatchObject({ backupId: backup.id, state: 'running' });
      expect(result.url).toBeDefined();
      expect(await emails(result.url ?? '')).toEqual([marks.before]);
      expect(result.reached.timeline).toBeGreaterThan(backup.timeline);
      expect(Date.parse(result.reached.lastCommitAt ?? '')).toBeLessThanOrEqual(marks.time.getTime());
      // A primary again: it takes writes.
      const restored = connect(withDatabase(result.url ?? '', 'jeex'), { max: 1, onnotice: () => {} });
      try {
        await insertUser(restored, { email: 'pitr-new@example.com', name: 'New' });
        expect((await restored`SELECT count(*)::int AS n FROM document_versions`)[0]).toBeDefined();
      } finally {
        await restored.end({ timeout: 1 });
      }
    } finally {
      await stop('by-time');
    }
  });

  for (const [label, target] of [
    ['an LSN', () => ({ lsn: marks.lsn })],
    ['an xid (inclusive)', () => ({ xid: marks.xid })],
    ['a named restore point', () => ({ name: marks.name })],
  ] as const) {
    it(`to ${label}: the same rows`, { timeout: CLUSTER_TIMEOUT }, async () => {
      const dir = `by-${label.replace(/\W+/g, '-')}`;
      const result = await restoreTo(dir, target());
      try {
        expect(await emails(result.url ?? '')).toEqual([marks.before]);
      } finally {
        await stop(dir);
      }
    });
  }

  it('--latest replays everything archived: both rows', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await restoreTo('latest', { latest: true });
    try {
      expect(await emails(result.url ?? '')).toEqual([marks.before, marks.after].sort());
    } finally {
      await stop('latest');
    }
  });

  it('a target after the archived WAL is RESTORE_TARGET_UNREACHABLE, not a hang', { timeout: CLUSTER_TIMEOUT }, async () => {
    const started = Date.now();
    const error = await restoreTo('future', { time: new Date(Date.now() + 3_600_000) }).catch((e: unknown) => e);
    await stop('future');
    expect(error).toBeInstanceOf(JeexDbError);
    expect((error as JeexDbError).code).toBe('RESTORE_TARGET_UNREACHABLE');
    expect((error as JeexDbError).hint).toMatch(/earlier target|--latest/);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a time before the oldest backup is BACKUP_NOT_FOUND; a non-empty directory needs force', { timeout: CLUSTER_TIMEOUT }, async () => {
    const early = await restoreTo('early', { time: new Date(Date.parse(backup.startedAt) - 60_000) }).catch((e: unknown) => e);
    expect((early as JeexDbError).code).toBe('BACKUP_NOT_FOUND');
    const busy = join(root, 'busy');
    await mkdir(busy, { recursive: true });
    await writeFile(join(busy, 'keep.txt'), 'mine');
    const refused = await restoreTo('busy', { latest: true }).catch((e: unknown) => e);
    expect((refused as JeexDbError).code).toBe('RESTORE_TARGET_NOT_EMPTY');
    // Not even with force into the directory that holds the cluster and its backups.
    const as = await serverOsUser();
    const own = await restoreBackup({ repo, to: dataDir, target: { latest: true }, force: true, sourceDataDir: dataDir, ...(as ? { as } : {}) }).catch((e: unknown) => e);
    expect((own as JeexDbError).code).toBe('RESTORE_TARGET_NOT_EMPTY');
    expect((own as JeexDbError).message).toMatch(/would delete what it restores from/);
    const [alive] = await sql<{ one: number }[]>`SELECT 1 AS one`;
    expect(alive?.one).toBe(1);
  });

  it('proveRestore: restores to the backup end, amcheck finds nothing, the row counts match', { timeout: CLUSTER_TIMEOUT }, async () => {
    const as = await serverOsUser();
    const proof = await proveRestore(repo, backup, { sourceDataDir: dataDir, ...(as ? { as } : {}) });
    expect(proof.problems).toEqual([]);
    expect(proof.ok).toBe(true);
    expect(proof.steps.join('\n')).toMatch(/amcheck over \d+ tables and \d+ B-tree indexes: no corruption/);
    expect(proof.steps.join('\n')).toMatch(/row counts of 5 tables/);
  });

  // Last: it damages the archive.
  it('verify finds a gap in the WAL archive after the backup (point-in-time recovery could not pass it)', { timeout: CLUSTER_TIMEOUT }, async () => {
    const before = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, restore: false });
    expect(before.ok).toBe(true);
    expect(before.steps.join('\n')).toMatch(/WAL continuous from .* to the newest archived segment/);
    // Two more segments archived, so taking the first of them out leaves a gap, not a shorter archive.
    for (let i = 0; i < 2; i++) {
      await insertUser(sql, { email: `pitr-gap-${i}-${Date.now()}@example.com`, name: 'Gap' });
      await waitForArchiver(sql);
    }
    const segments = (await listWalArchive(repo)).segments.filter((name) => name > backup.stopWalFile);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const victim = segments[0];
    if (!victim) throw new Error('no archived segment after the backup');
    await rename(join(repo.wal, victim), join(root, victim));
    try {
      const after = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, restore: false });
      expect(after.ok).toBe(false);
      expect(after.problems.join('\n')).toContain(`gap after the backup: ${victim}`);
    } finally {
      await rename(join(root, victim), join(repo.wal, victim));
    }
  });
});
