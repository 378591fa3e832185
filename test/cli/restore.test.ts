import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/ops/backup/repo.ts';
import { freePort } from '../../src/platform/port.ts';
import { down, up } from '../../src/stack/up.ts';
import { expectExit, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// End-to-end: the built binary verifies and restores backups of a dedicated PostgreSQL 18.

const CLUSTER_TIMEOUT = 180_000;

describe('jeex-db verify / restore', () => {
  let root: string;
  let dataDir: string;
  let backup: BackupRecord;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-restore-');
    dataDir = join(root, 'db');
    await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
    const taken = await runCli(['backup', '--data-dir', dataDir, '--fast', '--json']);
    expectExit(taken, 0);
    backup = parseJson<{ backup: BackupRecord }>(taken).backup;
  }, CLUSTER_TIMEOUT);
  afterAll(async () => {
    for (const dir of ['db', 'restored']) await down({ dataDir: join(root, dir) }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('verify --json: files, WAL and a scratch restore checked with amcheck; the result is recorded', { timeout: CLUSTER_TIMEOUT }, async () => {
    const result = await runCli(['verify', '--data-dir', dataDir, '--json']);
    expectExit(result, 0);
    const verified = parseJson<{ ok: boolean; id: string; steps: string[] }>(result);
    expect(verified).toMatchObject({ ok: true, id: backup.id });
    expect(verified.steps.join('\n')).toMatch(/no corruption/);
    const record = JSON.parse(await readFile(join(dataDir, 'backups', 'base', backup.id, 'backup.json'), 'utf8')) as BackupRecord;
    expect(record.verified?.ok).toBe(true);
  });

  it('restore --latest --json into a new directory; again into it exits 41 without --force; a bad time exits 2', { timeout: CLUSTER_TIMEOUT }, async () => {
    const to = join(root, 'restored');
    const result = await runCli(['restore', '--data-dir', dataDir, '--to', to, '--latest', '--json']);
    expectExit(result, 0);
    expect(parseJson(result)).toMatchObject({ ok: true, backupId: backup.id, state: 'stopped', dataDir: to });
    // The restored cluster is a local cluster: `up` starts it, migrated, with its own archive.
    const started = await runCli(['up', '--data-dir', to, '--detach', '--no-pooler', '--json', '--memory', '512MiB', '--cpus', '2']);
    expectExit(started, 0);
    expect(parseJson<{ migrations: { applied: string[] } }>(started).migrations.applied).toEqual([]);
    expectExit(await runCli(['down', '--data-dir', to]), 0);

    const again = await runCli(['restore', '--data-dir', dataDir, '--to', to, '--latest']);
    expectExit(again, 41);
    expect(again.stderr).toMatch(/--force/);
    const bad = await runCli(['restore', '--data-dir', dataDir, '--to', join(root, 'x'), '--target-time', 'yesterday-ish']);
    expectExit(bad, 2);
    expect(bad.stderr).toMatch(/ISO 8601/);
  });

  it('verify exits 46 when the backup is damaged, and records the failure', { timeout: CLUSTER_TIMEOUT }, async () => {
    const manifest = join(dataDir, 'backups', 'base', backup.id, 'backup_manifest');
    const text = await readFile(manifest, 'utf8');
    await writeFile(manifest, text.replace(/"Checksum": "([0-9a-f])/, (_m, c: string) => `"Checksum": "${c === '0' ? '1' : '0'}`));
    const result = await runCli(['verify', backup.id, '--data-dir', dataDir, '--json']);
    expectExit(result, 46);
    expect(parseJson<{ ok: boolean; problems: string[] }>(result).ok).toBe(false);
    const record = JSON.parse(await readFile(join(dataDir, 'backups', 'base', backup.id, 'backup.json'), 'utf8')) as BackupRecord;
    expect(record.verified?.ok).toBe(false);
  });
});
