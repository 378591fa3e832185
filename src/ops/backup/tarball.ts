import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar';
import { createDecryptStream } from '../../crypto/envelope-stream.ts';
import { loadKeys, type EncryptionKey } from '../../crypto/keys.ts';
import { JeexDbError } from '../../core/errors.ts';
import type { BackupRecord } from './repo.ts';

/** The tarball's file name in a backup's directory: `base.tar.gz`, or `base.tar.gz.enc` when encrypted. */
export const tarballName = (record: Pick<BackupRecord, 'encryption'>): string => (record.encryption ? 'base.tar.gz.enc' : 'base.tar.gz');

/**
 * The gzip tarball of a backup as a readable stream, decrypted on the way when the backup is
 * encrypted (with `keys`, default the keys of the environment: see `loadKeys`). A key missing
 * from `keys` is a BACKUP_DECRYPT_FAILED error before anything is read; a file changed or cut
 * after it was written makes the stream fail with BACKUP_DECRYPT_FAILED naming the chunk.
 *
 * @example
 * const tarball = openBackupTarball(backupDir(repo, record.id), record);
 * await pipeline(tarball, extract({ cwd: '/tmp/pgdata' }));
 */
export function openBackupTarball(dir: string, record: Pick<BackupRecord, 'id' | 'encryption'>, keys?: readonly EncryptionKey[]): Readable {
  const name = tarballName(record);
  const file = createReadStream(join(dir, name));
  if (!record.encryption) return file;
  const given = keys ?? loadKeys();
  const { keyId } = record.encryption;
  if (!given.some((key) => key.id === keyId)) {
    file.destroy();
    throw new JeexDbError('BACKUP_DECRYPT_FAILED', `Backup ${record.id} was encrypted with key ${keyId}, which is not among the keys given${given.length > 0 ? ` (${given.map((k) => k.id).join(', ')})` : ' (none: no key is configured)'}.`, {
      hint: `Set JEEX_BACKUP_KEY (or JEEX_BACKUP_KEY_FILE, or JEEX_BACKUP_KEYS for several) to the key with id ${keyId}, then try again.`,
      context: { id: record.id, keyId, keysGiven: given.map((k) => k.id) },
    });
  }
  const decrypt = createDecryptStream(given, { source: name });
  // A read error (the file is gone) fails the decrypted stream too.
  file.on('error', (error) => decrypt.destroy(error));
  return file.pipe(decrypt);
}

/**
 * Extract a backup's tarball into `cwd` (decrypting it when needed); resolves once every entry
 * is written, rejects on the first read, decryption or tar error.
 */
export async function extractBackupTarball(dir: string, record: Pick<BackupRecord, 'id' | 'encryption'>, cwd: string, keys?: readonly EncryptionKey[]): Promise<void> {
  const tarball = openBackupTarball(dir, record, keys);
  const unpack = extract({ cwd });
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      tarball.destroy();
      reject(error);
    };
    tarball.on('error', fail);
    unpack.on('error', fail);
    unpack.on('close', () => {
      if (!failed) resolve();
    });
    tarball.pipe(unpack);
  });
}
