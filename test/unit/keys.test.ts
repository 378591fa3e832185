import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionKey, formatKey, generateKey, keyId, loadKeys, parseKey } from '../../src/crypto/keys.ts';
import { JeexDbError } from '../../src/core/errors.ts';

const configError = (fn: () => unknown): JeexDbError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(JeexDbError);
    expect((error as JeexDbError).code).toBe('INVALID_CONFIG');
    return error as JeexDbError;
  }
  throw new Error('expected INVALID_CONFIG');
};

describe('backup keys', () => {
  const material = randomBytes(32);
  const b64 = material.toString('base64');
  const hex = material.toString('hex');
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jeex-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ids a key by the first 8 hex digits of its SHA-256', () => {
    expect(keyId(material)).toBe(createHash('sha256').update(material).digest('hex').slice(0, 8));
    expect(new EncryptionKey(material).id).toMatch(/^[0-9a-f]{8}$/);
  });

  it('parses base64, URL-safe base64 and hex to the same key, ignoring surrounding space', () => {
    const url = b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    for (const text of [b64, `  ${b64}\n`, hex, hex.toUpperCase(), url]) {
      expect(parseKey(text, 'JEEX_BACKUP_KEY').material.equals(material)).toBe(true);
    }
  });

  it('refuses keys of the wrong length or encoding, naming the variable but never the value', () => {
    for (const text of [randomBytes(16).toString('base64'), randomBytes(33).toString('hex'), 'not a key!', '', hex.slice(2)]) {
      const error = configError(() => parseKey(text, 'JEEX_BACKUP_KEY'));
      expect(error.message).toContain('JEEX_BACKUP_KEY');
      if (text.length > 4) expect(JSON.stringify(error)).not.toContain(text.trim());
    }
  });

  it('never shows the key material in JSON, inspect or a string', () => {
    const key = new EncryptionKey(material);
    for (const shown of [JSON.stringify(key), inspect(key), String(key), JSON.stringify({ ...key })]) {
      expect(shown).toContain(key.id);
      expect(shown).not.toContain(b64);
      expect(shown).not.toContain(hex);
    }
  });

  it('generates random 32-byte keys that parse back', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.material.length).toBe(32);
    expect(a.id).not.toBe(b.id);
    expect(parseKey(formatKey(a), 'x').id).toBe(a.id);
    expect(parseKey(formatKey(a, 'hex'), 'x').id).toBe(a.id);
  });

  it('loads nothing when no variable is set (encryption off)', () => {
    expect(loadKeys({})).toEqual([]);
    expect(loadKeys({ JEEX_BACKUP_KEY: '' })).toEqual([]);
  });

  it('loads JEEX_BACKUP_KEY', () => {
    const keys = loadKeys({ JEEX_BACKUP_KEY: b64 });
    expect(keys.map((k) => k.id)).toEqual([keyId(material)]);
  });

  it('loads JEEX_BACKUP_KEYS for rotation: the first encrypts, all decrypt, duplicates once', () => {
    const next = generateKey();
    const old = generateKey();
    const keys = loadKeys({ JEEX_BACKUP_KEYS: `${formatKey(next)}, ${formatKey(old, 'hex')},${formatKey(next)}` });
    expect(keys.map((k) => k.id)).toEqual([next.id, old.id]);
    const error = configError(() => loadKeys({ JEEX_BACKUP_KEYS: `${formatKey(next)},short` }));
    expect(error.message).toContain('JEEX_BACKUP_KEYS (key 2)');
    expect(configError(() => loadKeys({ JEEX_BACKUP_KEYS: ' , ' })).message).toContain('holds no key');
  });

  it('refuses two sources at once', () => {
    const error = configError(() => loadKeys({ JEEX_BACKUP_KEY: b64, JEEX_BACKUP_KEYS: b64 }));
    expect(error.message).toContain('JEEX_BACKUP_KEY and JEEX_BACKUP_KEYS');
  });

  it('reads JEEX_BACKUP_KEY_FILE of mode 600 (one key, or several one per line)', async () => {
    const file = join(dir, 'one.key');
    await writeFile(file, `${b64}\n`, { mode: 0o600 });
    expect(loadKeys({ JEEX_BACKUP_KEY_FILE: file }).map((k) => k.id)).toEqual([keyId(material)]);
    const other = generateKey();
    const several = join(dir, 'several.key');
    await writeFile(several, `${formatKey(other)}\n${hex}\n`, { mode: 0o600 });
    expect(loadKeys({ JEEX_BACKUP_KEY_FILE: several }).map((k) => k.id)).toEqual([other.id, keyId(material)]);
  });

  it.skipIf(process.platform === 'win32')('refuses a key file readable by group or others, saying how to fix it', async () => {
    const file = join(dir, 'open.key');
    await writeFile(file, b64);
    for (const mode of [0o644, 0o640, 0o604]) {
      await chmod(file, mode);
      const error = configError(() => loadKeys({ JEEX_BACKUP_KEY_FILE: file }));
      expect(error.message).toContain(`mode ${mode.toString(8)}`);
      expect(error.message).toContain('JEEX_BACKUP_KEY_FILE');
      expect(error.hint).toContain(`chmod 600 ${file}`);
      expect(JSON.stringify(error)).not.toContain(b64);
    }
    await chmod(file, 0o400);
    expect(loadKeys({ JEEX_BACKUP_KEY_FILE: file })).toHaveLength(1);
  });

  it('names a missing key file and the variable', () => {
    const error = configError(() => loadKeys({ JEEX_BACKUP_KEY_FILE: join(dir, 'nope.key') }));
    expect(error.message).toContain('JEEX_BACKUP_KEY_FILE');
    expect(error.message).toContain('ENOENT');
  });
});
