import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { createGunzip } from 'node:zlib';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { withDatabase } from '../helpers/urls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import { listBackups } from '../../src/ops/backup/list.ts';
import { backupDir, type BackupRecord, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { restoreBackup } from '../../src/ops/backup/restore.ts';
import { openBackupTarball } from '../../src/ops/backup/tarball.ts';
import { verifyBackupFiles } from '../../src/ops/backup/verify-files.ts';
import { formatKey, generateKey, KEY_VARIABLES } from '../../src/crypto/keys.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { insertUser, readUsers } from '../helpers/users.ts';

// An encrypted base backup on a dedicated PostgreSQL 18: the stored file holds no plaintext, it
// can be neither verified nor restored without its key, and with the key both work (the row
// written before the backup is in the restored server).

const CLUSTER_TIMEOUT = 180_000;

async function decryptFailure(promise: Promise<unknown>): Promise<JeexDbError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JeexDbError);
  expect((error as JeexDbError).code).toBe('BACKUP_DECRYPT_FAILED');
  return error as JeexDbError;
}

describe('encrypted base backups (AES-256-GCM)', () => {
  const key = generateKey();
  const otherKey = generateKey();
  const marker = `enc-marker-${Date.now()}@example.com`;
  // profile_data is not encrypted by the column cipher: it shows what the backup's own encryption hides.
  const plainMarker = `enc-plain-marker-${Date.now()}`;
  const saved: Record<string, string | undefined> = {};
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let backup: BackupRecord;

  /** The keys this process sees in its environment, as loadKeys reads them. */
  const setEnv = (values: Partial<Record<(typeof KEY_VARIABLES)[number], string>>) => {
    for (const name of KEY_VARIABLES) delete process.env[name];
    Object.assign(process.env, values);
  };

  beforeAll(async () => {
    for (const name of KEY_VARIABLES) saved[name] = process.env[name];
    setEnv({});
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-backup-enc-'));
    await insertUser(sql, { email: marker, name: 'Encrypted Marker', profileData: { marker: plainMarker } });
    // fast: pg_backup_start's immediate checkpoint writes the row's page into the data files copied.
    ({ record: backup } = await takeBaseBackup(sql, { repo, fast: true, encryptionKey: key }));
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    for (const name of KEY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await sql?.end({ timeout: 5 });
    if (root) await down({ dataDir: join(root, 'restored') }).catch(() => undefined);
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('stores base.tar.gz.enc holding none of the plaintext; the record and the list name the key', async () => {
    expect(backup.encryption).toEqual({ algorithm: 'AES-256-GCM', keyId: key.id });
    const dir = backupDir(repo, backup.id);
    await expect(stat(join(dir, 'base.tar.gz'))).rejects.toMatchObject({ code: 'ENOENT' });
    const stored = await readFile(join(dir, 'base.tar.gz.enc'));
    expect(stored.length).toBe(backup.storedBytes);
    expect(stored.subarray(0, 8).toString('ascii')).toBe('JEEXENC1');
    // No gzip magic at the start, and the marker nowhere in the raw bytes…
    expect(stored[0] === 0x1f && stored[1] === 0x8b).toBe(false);
    expect(stored.includes(Buffer.from(plainMarker))).toBe(false);
    expect(stored.includes(Buffer.from(marker))).toBe(false);
    expect(stored.includes(Buffer.from('PG_VERSION'))).toBe(false);
    // …although it is in the backup: decrypted and gunzipped, the heap page holds it.
    const tar = await buffer(openBackupTarball(dir, backup, [key]).pipe(createGunzip()));
    expect(tar.includes(Buffer.from(plainMarker))).toBe(true);
    // The email is not, even there: the column cipher encrypted it before it reached a page.
    expect(tar.includes(Buffer.from(marker))).toBe(false);

    const { backups } = await listBackups(repo);
    expect(backups.find((b) => b.id === backup.id)).toMatchObject({ encrypted: true, keyId: key.id });
  });

  it('cannot be verified without its key (BACKUP_DECRYPT_FAILED naming the key id)', async () => {
    setEnv({});
    const none = await decryptFailure(verifyBackupFiles(repo, backup.id));
    expect(none.message).toContain(`encrypted with key ${key.id}, which is not among the keys given`);
    const wrong = await decryptFailure(verifyBackupFiles(repo, backup.id, { keys: [otherKey] }));
    expect(wrong.message).toContain(otherKey.id);
    setEnv({ JEEX_BACKUP_KEY: formatKey(otherKey) });
    await decryptFailure(verifyBackupFiles(repo, backup.id));
  });

  it('cannot be restored without its key', { timeout: CLUSTER_TIMEOUT }, async () => {
    setEnv({ JEEX_BACKUP_KEY: formatKey(otherKey) });
    const as = await serverOsUser();
    const error = await decryptFailure(restoreBackup({ repo, to: join(root, 'no-key'), backupId: backup.id, target: { immediate: true }, timeoutSeconds: 120, ...(as ? { as } : {}) }));
    expect(error.message).toContain(key.id);
    await expect(stat(join(root, 'no-key', 'pgdata', 'PG_VERSION'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('verifies with its key (given, or among rotated keys in the environment)', async () => {
    setEnv({});
    const given = await verifyBackupFiles(repo, backup.id, { keys: [key] });
    expect(given.problems).toEqual([]);
    expect(given.ok).toBe(true);
    expect(given.filesChecked).toBe(backup.files);
    setEnv({ JEEX_BACKUP_KEYS: `${formatKey(otherKey)},${formatKey(key, 'hex')}` });
    expect((await verifyBackupFiles(repo, backup.id)).ok).toBe(true);
  });

  it('restores with its key: the marker row is in the restored server', { timeout: CLUSTER_TIMEOUT }, async () => {
    setEnv({ JEEX_BACKUP_KEY: formatKey(key) });
    const as = await serverOsUser();
    const result = await restoreBackup({ repo, to: join(root, 'restored'), backupId: backup.id, target: { immediate: true }, start: { port: 0 }, sourceDataDir: dataDir, timeoutSeconds: 120, ...(as ? { as } : {}) });
    try {
      expect(result.url).toBeDefined();
      const database = readLocalState(localLayout(dataDir))?.database ?? 'jeex';
      const restored = connect(withDatabase(result.url ?? '', database), { max: 1, onnotice: () => {} });
      try {
        // Readable with the data keys, which no backup carries.
        expect((await readUsers(restored)).filter((u) => u.email === marker)).toEqual([expect.objectContaining({ email: marker, name: 'Encrypted Marker' })]);
      } finally {
        await restored.end({ timeout: 1 });
      }
    } finally {
      await down({ dataDir: join(root, 'restored') }).catch(() => undefined);
    }
  });

  it('`jeex-db backup` encrypts with the key of the environment and says so; verify without it exits 47', { timeout: CLUSTER_TIMEOUT }, async () => {
    setEnv({});
    const env = localEnv({ JEEX_BACKUP_KEY: formatKey(key) });
    const made = await runCli(['backup', '--data-dir', dataDir, '--fast'], env);
    expectExit(made, 0);
    expect(made.stdout).toContain(`encrypted with key ${key.id}`);
    expect(made.stdout + made.stderr).not.toContain(formatKey(key));
    const listed = parseJson<{ backups: { id: string; encrypted: boolean; keyId?: string }[] }>(await runCli(['backups', 'list', '--data-dir', dataDir, '--json'], env));
    expect(listed.backups.at(-1)).toMatchObject({ encrypted: true, keyId: key.id });
    const id = listed.backups.at(-1)?.id ?? '';
    const noKey = await runCli(['verify', id, '--data-dir', dataDir, '--no-restore', '--json'], localEnv({ JEEX_BACKUP_KEY: '' }));
    expectExit(noKey, EXIT.BACKUP_DECRYPT_FAILED);
    expect(parseJson<{ error: { code: string } }>(noKey).error.code).toBe('BACKUP_DECRYPT_FAILED');
  });

  it('a changed byte in the stored file fails verification, naming the chunk', async () => {
    const file = join(backupDir(repo, backup.id), 'base.tar.gz.enc');
    const stored = await readFile(file);
    const at = Math.floor(stored.length / 2);
    stored[at] = (stored[at] ?? 0) ^ 0x01;
    await writeFile(file, stored);
    const result = await verifyBackupFiles(repo, backup.id, { keys: [key] });
    expect(result.ok).toBe(false);
    expect(result.problems.find((p) => p.kind === 'unreadable')?.message).toMatch(/chunk \d+ failed authentication: the file was changed or truncated/);
  });
});
