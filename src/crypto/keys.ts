import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import { JeexDbError } from '../core/errors.ts';

/** AES-256: keys are exactly 32 bytes. */
export const KEY_BYTES = 32;

/**
 * The families of key variables: backups, the column cipher's data keys, and the blind index's
 * HMAC keys. Each family is read from `<prefix>_KEY`, `<prefix>_KEY_FILE` or `<prefix>_KEYS`.
 */
export type KeyPrefix = 'JEEX_BACKUP' | 'JEEX_DATA' | 'JEEX_BLIND_INDEX';

/** The three environment variables of a key family (never the database). */
export function keyVariables<P extends KeyPrefix>(prefix: P): readonly [`${P}_KEY`, `${P}_KEY_FILE`, `${P}_KEYS`] {
  return [`${prefix}_KEY`, `${prefix}_KEY_FILE`, `${prefix}_KEYS`] as const;
}

/** The environment variables backup keys are read from (never from the database). */
export const KEY_VARIABLES = keyVariables('JEEX_BACKUP');

/**
 * A 32-byte AES-256 key and its short public id (the first 8 hex digits of the key's SHA-256).
 * The id is stored next to what the key encrypts, so the right key can be picked and a wrong one
 * named; the key material itself never appears in `JSON.stringify`, `console.log` or an error.
 *
 * @example
 * const key = generateKey();
 * key.id;           // '3f9a0c1e'
 * String(key);      // 'EncryptionKey 3f9a0c1e' (no material)
 */
export class EncryptionKey {
  readonly id: string;
  declare readonly material: Buffer;

  constructor(material: Buffer) {
    if (material.length !== KEY_BYTES) throw new RangeError(`an AES-256 key is ${KEY_BYTES} bytes, not ${material.length}`);
    this.id = keyId(material);
    // Not enumerable: spreading, JSON and structured loggers see the id only.
    Object.defineProperty(this, 'material', { value: Buffer.from(material), enumerable: false });
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  toString(): string {
    return `EncryptionKey ${this.id}`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** The public id of a key: the first 8 hex digits of its SHA-256. */
export function keyId(material: Buffer): string {
  return createHash('sha256').update(material).digest('hex').slice(0, 8);
}

/**
 * A new random key (32 bytes from the OS's CSPRNG).
 *
 * @example
 * const key = generateKey();
 * console.log(formatKey(key)); // base64, for JEEX_BACKUP_KEY or a key file
 */
export function generateKey(): EncryptionKey {
  return new EncryptionKey(randomBytes(KEY_BYTES));
}

/** The key as text for an environment variable or a key file: base64 (default) or hex. */
export function formatKey(key: EncryptionKey, encoding: 'base64' | 'hex' = 'base64'): string {
  return key.material.toString(encoding);
}

const generateHint = 'Generate a key with `jeex-db keys generate` (32 random bytes, printed in base64).';

/**
 * One key written as 64 hex digits or base64 (standard or URL-safe, 44 characters with padding).
 * `source` names where it came from (a variable, a file) for the error; the text itself is never
 * repeated in the message.
 */
export function parseKey(text: string, source: string): EncryptionKey {
  const trimmed = text.trim();
  let material: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) material = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) material = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!material || material.length !== KEY_BYTES) {
    throw new JeexDbError('INVALID_CONFIG', `${source} does not hold a ${KEY_BYTES}-byte key: it must be base64 (44 characters) or hex (64 digits)${material ? `, and it decodes to ${material.length} bytes` : ''}.`, {
      hint: generateHint,
      context: { variable: source },
    });
  }
  return new EncryptionKey(material);
}

/** Several keys separated by commas or newlines; the first one is the one that encrypts. */
export function parseKeyList(text: string, source: string): EncryptionKey[] {
  const parts = text.split(/[,\n]/).map((part) => part.trim()).filter((part) => part !== '');
  if (parts.length === 0) throw new JeexDbError('INVALID_CONFIG', `${source} is set but holds no key.`, { hint: `${generateHint} Or unset ${source}.`, context: { variable: source } });
  const keys = parts.map((part, i) => parseKey(part, parts.length > 1 ? `${source} (key ${i + 1})` : source));
  // The same key listed twice is harmless: keep the first.
  return keys.filter((key, i) => keys.findIndex((k) => k.id === key.id) === i);
}

/**
 * Read a key file: refused when group or others can access it (like ssh does with private keys),
 * since a key anyone on the machine can read protects nothing.
 */
export function readKeyFile(path: string, variable = 'JEEX_BACKUP_KEY_FILE'): EncryptionKey[] {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new JeexDbError('INVALID_CONFIG', `${variable} names ${path}, which cannot be read (${code}).`, {
      hint: `Point ${variable} at a readable file holding the key (mode 600), or unset it.`,
      context: { variable, path },
    });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    throw new JeexDbError('INVALID_CONFIG', `${path} (${variable}) is accessible by group or others (mode ${octal}): a key file must be private to its owner.`, {
      hint: `Run \`chmod 600 ${path}\`, then try again.`,
      context: { variable, path, mode: octal },
    });
  }
  return parseKeyList(text, `${variable} (${path})`);
}

/**
 * Keys from the environment: `<prefix>_KEY` (one key, base64 or hex), `<prefix>_KEY_FILE` (a file
 * of mode 600 holding one key, or several one per line) or `<prefix>_KEYS` (several,
 * comma-separated, for rotation). Exactly one of them may be set. The first key encrypts (or
 * computes the blind index); every key decrypts (or is looked up). An empty list means no key is
 * configured: backups are then unencrypted, while the column cipher refuses to work. Keys are
 * never read from the database. The prefix defaults to `JEEX_BACKUP` (the backup keys).
 *
 * @example
 * const [current] = loadKeys();              // undefined: no backup key configured
 * loadKeys({ JEEX_BACKUP_KEYS: `${newKey},${oldKey}` }); // encrypt with newKey, read both
 * loadKeys(process.env, 'JEEX_DATA');        // the column cipher's keys (JEEX_DATA_KEY...)
 */
export function loadKeys(env: NodeJS.ProcessEnv = process.env, prefix: KeyPrefix = 'JEEX_BACKUP'): EncryptionKey[] {
  const [one, file, several] = keyVariables(prefix);
  const set = [one, file, several].filter((name) => env[name] !== undefined && env[name] !== '');
  if (set.length > 1) {
    throw new JeexDbError('INVALID_CONFIG', `${set.join(' and ')} are both set: set only one of them.`, {
      hint: `Use ${one} or ${file} for one key, ${several} (comma-separated, the encrypting key first) for several.`,
      context: { variables: set },
    });
  }
  const [variable] = set;
  const value = variable ? env[variable] : undefined;
  if (!variable || value === undefined) return [];
  if (variable === one) return [parseKey(value, variable)];
  if (variable === file) return readKeyFile(value, variable);
  return parseKeyList(value, variable);
}
