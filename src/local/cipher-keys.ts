import { existsSync } from 'node:fs';
import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from './layout.ts';
import { ColumnCipher, missingKeys, type CipherKeys, type CipherKeySources } from '../crypto/column-cipher.ts';
import { keyVariables, loadKeys, readKeyFile, type EncryptionKey, type KeyPrefix } from '../crypto/keys.ts';

export interface CipherKeyOptions {
  /** Keys given in code; they win over the environment. */
  keys?: CipherKeys;
  /**
   * The local cluster of `jeex-db up`, whose `keys/` directory is the fallback when the
   * environment sets no key (only when the database is that cluster: see createDb).
   */
  local?: LocalLayout;
}

/**
 * The column cipher's keys, resolved once: `keys` given in code, else the environment
 * (`JEEX_DATA_KEY` / `_FILE` / `_KEYS` and `JEEX_BLIND_INDEX_KEY` / `_FILE` / `_KEYS`), else the
 * local cluster's `keys/data.key` and `keys/blind-index.key`. Every problem is reported at once:
 * INVALID_CONFIG for a malformed key or file, ENCRYPTION_KEY_MISSING naming the variables when a
 * family has no key at all. Keys never come from the database.
 *
 * @example
 * const cipher = loadColumnCipher(process.env);
 * const cipher2 = loadColumnCipher({}, { local: localLayout('.jeex-db') });
 */
export function loadColumnCipher(env: NodeJS.ProcessEnv = process.env, options: CipherKeyOptions = {}): ColumnCipher {
  if (options.keys) return new ColumnCipher(options.keys);
  const invalid: string[] = [];
  const missing: string[] = [];
  const family = (prefix: KeyPrefix, localFile: string | undefined, what: string): { keys: EncryptionKey[]; source: string } => {
    const variables = keyVariables(prefix);
    try {
      const keys = loadKeys(env, prefix);
      // A file is named with its path, so a message can say which file to restore.
      const variable = variables.find((name) => env[name]) ?? prefix;
      if (keys.length > 0) return { keys, source: variable === variables[1] ? `${variable} (${env[variable]})` : variable };
      if (localFile && existsSync(localFile)) return { keys: readKeyFile(localFile, `the local ${what} key file`), source: localFile };
      missing.push(`no ${what} key (set ${variables[0]}, ${variables[1]} or ${variables[2]})`);
    } catch (error) {
      if (error instanceof JeexDbError) invalid.push(error.hint ? `${error.message} ${error.hint}` : error.message);
      else throw error;
    }
    return { keys: [], source: prefix };
  };
  const data = family('JEEX_DATA', options.local?.dataKeyFile, 'data');
  const blindIndex = family('JEEX_BLIND_INDEX', options.local?.blindIndexKeyFile, 'blind-index');
  if (invalid.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `invalid encryption key configuration:\n  - ${invalid.join('\n  - ')}`, {
      hint: 'Fix the variables or files named above; `jeex-db keys generate` prints a new key.',
      context: { problems: invalid },
    });
  }
  if (missing.length > 0) throw missingKeys(missing);
  const sources: CipherKeySources = { data: data.source, blindIndex: blindIndex.source };
  return new ColumnCipher({ data: data.keys, blindIndex: blindIndex.keys }, sources);
}
