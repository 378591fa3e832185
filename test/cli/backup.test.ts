import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupList } from '../../src/ops/backup/list.ts';
import type { BackupRecord } from '../../src/ops/backup/repo.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { expectExit, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// End-to-end: the built binary backs up a dedicated PostgreSQL 18 (started with the project's
// `up`, WAL archived into its default repository) and lists the repository.

const CLUSTER_TIMEOUT = 120_000;

describe('jeex-db backup / backups list', () => {
  let root: string;
  let dataDir: string;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-backup-');
    dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
  }, CLUSTER_TIMEOUT);
  afterAll(async () => {
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('backup --json takes a backup of the local cluster; backups list --json shows it', async () => {
    const result = await runCli(['backup', '--data-dir', dataDir, '--fast', '--max-rate', '200MB', '--json']);
    expectExit(result, 0);
    const { ok, backup, dir } = parseJson<{ ok: boolean; backup: BackupRecord; dir: string }>(result);
    expect(ok).toBe(true);
    expect(dir).toBe(join(dataDir, 'backups', 'base', backup.id));
    expect((await readdir(dir)).sort()).toEqual(['backup.json', 'backup_manifest', 'base.tar.gz']);
    expect(backup.rowCounts).toHaveProperty('users');
    expect(backup.storedBytes).toBeGreaterThan(0);

    const listed = await runCli(['backups', 'list', '--data-dir', dataDir, '--json']);
    expectExit(listed, 0);
    const list = parseJson<BackupList & { ok: boolean }>(listed);
    expect(list.backups).toEqual([expect.objectContaining({ id: backup.id, stopLsn: backup.stopLsn, verified: 'unverified', encrypted: false })]);
    expect(list.window?.earliest).toBe(backup.stoppedAt);
  }, 60_000);

  it('exits 44 with BACKUP_FAILED when the repository cannot be written, and 2 on a bad --max-rate', async () => {
    const blocked = join(root, 'db', 'state.json'); // a file, not a directory
    const failed = await runCli(['backup', '--data-dir', dataDir, '--repo', blocked, '--fast', '--json']);
    expectExit(failed, 44);
    expect(parseJson<{ ok: boolean; error: { code: string } }>(failed).error.code).toBe('BACKUP_FAILED');
    expect(failed.stderr).toContain('fix:');

    const usage = await runCli(['backup', '--data-dir', dataDir, '--max-rate', 'fast', '--json']);
    expectExit(usage, 2);
  }, 60_000);

  it('backups list on an empty repository says so', async () => {
    const result = await runCli(['backups', 'list', '--repo', join(root, 'empty')]);
    expectExit(result, 0);
    expect(result.stdout).toContain('no backups in');
  });
});
