import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { formatKey, generateKey } from '../crypto/keys.ts';
import type { LocalLayout } from './layout.ts';

export interface LocalKeys {
  dir: string;
  /** Key files this call created (first run); the others existed and were left as they are. */
  created: string[];
}

/**
 * The local cluster's column-cipher keys: on first run a random data key and a separate
 * blind-index key, each in its own file of mode 0600 under `<data-dir>/keys/` (0700). They live
 * beside the data directory, not in it, so neither a base backup (which copies `pgdata/`) nor
 * the backup repository (`backups/`) carries them. An existing file is never replaced: losing
 * the data key loses every user's email and name.
 *
 * @example
 * await ensureLocalKeys(localLayout('.jeex-db')); // createDb() finds them for the local cluster
 */
export async function ensureLocalKeys(layout: LocalLayout, progress: (message: string) => void = () => {}): Promise<LocalKeys> {
  await mkdir(layout.keysDir, { recursive: true, mode: 0o700 });
  await chmod(layout.keysDir, 0o700);
  const created: string[] = [];
  for (const file of [layout.dataKeyFile, layout.blindIndexKeyFile]) {
    try {
      // wx: never overwrite a key, even one another `up` wrote a moment ago.
      await writeFile(file, `${formatKey(generateKey())}\n`, { mode: 0o600, flag: 'wx' });
      created.push(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if (created.length > 0) progress(`generated the column-encryption keys in ${layout.keysDir} (keep a copy: without data.key the users' emails and names cannot be read)`);
  return { dir: layout.keysDir, created };
}
