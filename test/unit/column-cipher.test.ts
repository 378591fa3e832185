import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadColumnCipher } from '../../src/local/cipher-keys.ts';
import { ColumnCipher, normalizeEmail } from '../../src/crypto/column-cipher.ts';
import { formatKey, generateKey, keyVariables, loadKeys } from '../../src/crypto/keys.ts';
import { ENVELOPE_SQL_PATTERN, Sealed } from '../../src/crypto/sealed.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { localLayout } from '../../src/local/layout.ts';
import { agentExecutions, documentVersions, exports, projects, sensitiveColumns, users } from '../../src/schema/index.ts';

const thrown = (fn: () => unknown): JeexDbError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(JeexDbError);
    return error as JeexDbError;
  }
  throw new Error('expected a JeexDbError');
};

const newCipher = () => new ColumnCipher({ data: [generateKey()], blindIndex: [generateKey()] });

/** The same envelope with its payload changed by `change`. */
function withPayload(sealed: Sealed, change: (payload: Buffer) => void): Sealed {
  const payload = sealed.payload();
  change(payload);
  return Sealed.parse(`jx1.${sealed.keyId}.${payload.toString('base64url')}`);
}

describe('column cipher (AES-256-GCM envelopes)', () => {
  const cipher = newCipher();
  const id = uuidv7();

  it('round-trips text, also empty, multi-byte and long', () => {
    for (const text of ['ada@example.com', '', 'Zoë Ørsted 🦊', 'x'.repeat(10_000)]) {
      const sealed = cipher.seal(text, 'users.name', id);
      expect(cipher.open(sealed, 'users.name', id)).toBe(text);
    }
  });

  it('writes jx1.<key id>.<base64url(nonce | ciphertext | tag)> with a fresh nonce each time', () => {
    const a = cipher.seal('ada@example.com', 'users.email', id);
    const b = cipher.seal('ada@example.com', 'users.email', id);
    expect(a.envelope).toMatch(new RegExp(ENVELOPE_SQL_PATTERN));
    expect(a.keyId).toBe(cipher.dataKeyId);
    expect(a.envelope.startsWith(`jx1.${cipher.dataKeyId}.`)).toBe(true);
    expect(a.payload()).toHaveLength(12 + 'ada@example.com'.length + 16);
    expect(a.envelope).not.toBe(b.envelope);
    expect(a.payload().subarray(0, 12).equals(b.payload().subarray(0, 12))).toBe(false);
    // Neither the plaintext nor its base64 shows.
    for (const shown of ['ada@example.com', Buffer.from('ada@example.com').toString('base64'), Buffer.from('ada@example.com').toString('base64url')]) {
      expect(a.envelope).not.toContain(shown);
    }
  });

  it('opens with any configured key and seals with the first', () => {
    const old = generateKey();
    const next = generateKey();
    const blindIndex = [generateKey()];
    const before = new ColumnCipher({ data: [old], blindIndex });
    const during = new ColumnCipher({ data: [next, old], blindIndex });
    const sealed = before.seal('Ada', 'users.name', id);
    expect(during.open(sealed, 'users.name', id)).toBe('Ada');
    expect(during.isCurrent(sealed)).toBe(false);
    expect(during.seal('Ada', 'users.name', id).keyId).toBe(next.id);
    expect(during.dataKeyIds).toEqual([next.id, old.id]);
  });

  it('fails with ENCRYPTION_KEY_UNKNOWN naming the key id when the key is not configured', () => {
    const sealed = cipher.seal('ada@example.com', 'users.email', id);
    const other = newCipher();
    const error = thrown(() => other.open(sealed, 'users.email', id));
    expect(error.code).toBe('ENCRYPTION_KEY_UNKNOWN');
    expect(error.message).toContain(`data key ${cipher.dataKeyId}`);
    expect(error.message).toContain(other.dataKeyId);
    expect(error.hint).toContain('JEEX_DATA_KEYS');
    expect(error.context).toMatchObject({ keyId: cipher.dataKeyId });
    expect(JSON.stringify(error)).not.toContain('ada@example.com');
  });

  it('fails authentication under a wrong key that claims the right id', () => {
    const other = newCipher();
    const sealed = cipher.seal('ada@example.com', 'users.email', id);
    const relabelled = Sealed.parse(sealed.envelope.replace(cipher.dataKeyId, other.dataKeyId));
    const error = thrown(() => other.open(relabelled, 'users.email', id));
    expect(error.code).toBe('DECRYPT_FAILED');
    expect(error.message).toContain('failed authentication');
    expect(error.message).toContain(other.dataKeyId);
  });

  it('detects a flipped bit in every byte of nonce, ciphertext and tag', () => {
    const sealed = cipher.seal('ada@example.com', 'users.email', id);
    const length = sealed.payload().length;
    for (let i = 0; i < length; i++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = withPayload(sealed, (p) => (p[i] = (p[i] ?? 0) ^ bit));
        expect(thrown(() => cipher.open(tampered, 'users.email', id)).code, `byte ${i}`).toBe('DECRYPT_FAILED');
      }
    }
  });

  it('refuses every changed character of the stored text (no alternative spelling opens)', () => {
    const sealed = cipher.seal('ada', 'users.name', id);
    const text = sealed.envelope;
    for (let i = 0; i < text.length; i++) {
      const replacement = text[i] === 'A' ? 'B' : 'A';
      const changed = text.slice(0, i) + replacement + text.slice(i + 1);
      const error = thrown(() => cipher.open(Sealed.parse(changed), 'users.name', id));
      expect(['DECRYPT_FAILED', 'ENCRYPTION_KEY_UNKNOWN'], `character ${i}`).toContain(error.code);
    }
    // Truncated or extended.
    expect(thrown(() => cipher.open(Sealed.parse(text.slice(0, -1)), 'users.name', id)).code).toBe('DECRYPT_FAILED');
    expect(thrown(() => cipher.open(Sealed.parse(`${text}A`), 'users.name', id)).code).toBe('DECRYPT_FAILED');
  });

  it('binds a value to its row and column: moved elsewhere it fails authentication', () => {
    const sealed = cipher.seal('ada@example.com', 'users.email', id);
    for (const [column, row] of [
      ['users.email', uuidv7()],
      ['users.name', id],
      ['projects.name', id],
    ] as const) {
      const error = thrown(() => cipher.open(sealed, column, row));
      expect(error.code).toBe('DECRYPT_FAILED');
      expect(error.message).toContain(`${column} of row ${row}`);
    }
  });

  it('refuses stored text that is not an envelope, without repeating it', () => {
    for (const text of ['ada@example.com', 'jx1.zzzz.abc', 'jx2.01234567.' + 'A'.repeat(40), '']) {
      const error = thrown(() => Sealed.parse(text, 'users.email of row 1'));
      expect(error.code).toBe('DECRYPT_FAILED');
      expect(error.message).toContain('users.email of row 1');
      if (text) expect(JSON.stringify(error)).not.toContain(text);
    }
    expect(Sealed.is('jx1.01234567.' + 'A'.repeat(40))).toBe(false);
    expect(Sealed.is({ envelope: 'jx1', keyId: '01234567' })).toBe(false);
  });
});

describe('blind index (HMAC-SHA-256 of the normalised email)', () => {
  const cipher = newCipher();

  it('is the key id then 32 bytes of HMAC, equal for emails differing in case, width or spaces', () => {
    const index = cipher.blindIndex('Ada.Lovelace@Example.COM');
    expect(index).toHaveLength(36);
    expect(ColumnCipher.blindIndexKeyId(index)).toBe(cipher.blindIndexKeyId);
    for (const same of ['ada.lovelace@example.com', '  ADA.LOVELACE@EXAMPLE.COM ', 'ａｄａ.lovelace@example.com']) {
      expect(cipher.blindIndex(same).equals(index), same).toBe(true);
    }
    expect(cipher.blindIndex('ada.lovelace@example.org').equals(index)).toBe(false);
    expect(normalizeEmail(' Ａda@X.io ')).toBe('ada@x.io');
  });

  it('differs under another key, and lists every key while two are configured', () => {
    const other = newCipher();
    expect(other.blindIndex('ada@example.com').equals(cipher.blindIndex('ada@example.com'))).toBe(false);
    const data = [generateKey()];
    const [next, old] = [generateKey(), generateKey()];
    const both = new ColumnCipher({ data, blindIndex: [next, old] });
    const only = new ColumnCipher({ data, blindIndex: [old] });
    const hashes = both.blindIndexes('ada@example.com');
    expect(hashes).toHaveLength(2);
    expect(hashes[0]?.equals(both.blindIndex('ada@example.com'))).toBe(true);
    expect(hashes[1]?.equals(only.blindIndex('ada@example.com'))).toBe(true);
  });

  it('refuses a blind-index key that is also a data key', () => {
    const key = generateKey();
    const error = thrown(() => new ColumnCipher({ data: [key], blindIndex: [key] }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(key.id);
  });
});

describe('column cipher keys from the environment', () => {
  const data = generateKey();
  const old = generateKey();
  const blind = generateKey();
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jeex-cipher-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the variables of each family', () => {
    expect(keyVariables('JEEX_DATA')).toEqual(['JEEX_DATA_KEY', 'JEEX_DATA_KEY_FILE', 'JEEX_DATA_KEYS']);
    expect(keyVariables('JEEX_BLIND_INDEX')).toEqual(['JEEX_BLIND_INDEX_KEY', 'JEEX_BLIND_INDEX_KEY_FILE', 'JEEX_BLIND_INDEX_KEYS']);
    expect(loadKeys({ JEEX_DATA_KEYS: `${formatKey(data)},${formatKey(old)}` }, 'JEEX_DATA').map((k) => k.id)).toEqual([data.id, old.id]);
    // Families do not read each other's variables.
    expect(loadKeys({ JEEX_DATA_KEY: formatKey(data) })).toEqual([]);
    expect(loadKeys({ JEEX_BACKUP_KEY: formatKey(data) }, 'JEEX_DATA')).toEqual([]);
  });

  it('loads JEEX_DATA_KEYS (first seals, all open) and JEEX_BLIND_INDEX_KEY', () => {
    const cipher = loadColumnCipher({ JEEX_DATA_KEYS: `${formatKey(data)}, ${formatKey(old, 'hex')}`, JEEX_BLIND_INDEX_KEY: formatKey(blind) });
    expect(cipher.dataKeyIds).toEqual([data.id, old.id]);
    expect(cipher.blindIndexKeyIds).toEqual([blind.id]);
    expect(cipher.sources).toEqual({ data: 'JEEX_DATA_KEYS', blindIndex: 'JEEX_BLIND_INDEX_KEY' });
  });

  it('reads key files of mode 600', async () => {
    const dataFile = join(dir, 'data.key');
    const blindFile = join(dir, 'blind.key');
    await writeFile(dataFile, `${formatKey(data)}\n${formatKey(old)}\n`, { mode: 0o600 });
    await writeFile(blindFile, formatKey(blind), { mode: 0o600 });
    const cipher = loadColumnCipher({ JEEX_DATA_KEY_FILE: dataFile, JEEX_BLIND_INDEX_KEY_FILE: blindFile });
    expect(cipher.dataKeyIds).toEqual([data.id, old.id]);
    expect(cipher.blindIndexKeyId).toBe(blind.id);
    // Named with their paths, so a message can say which file to restore.
    expect(cipher.sources).toEqual({ data: `JEEX_DATA_KEY_FILE (${dataFile})`, blindIndex: `JEEX_BLIND_INDEX_KEY_FILE (${blindFile})` });
  });

  it('without keys: ENCRYPTION_KEY_MISSING naming every variable to set', () => {
    const error = thrown(() => loadColumnCipher({ JEEX_BACKUP_KEY: formatKey(data) }));
    expect(error.code).toBe('ENCRYPTION_KEY_MISSING');
    for (const name of ['JEEX_DATA_KEY', 'JEEX_DATA_KEY_FILE', 'JEEX_DATA_KEYS', 'JEEX_BLIND_INDEX_KEY', 'JEEX_BLIND_INDEX_KEY_FILE']) expect(error.message).toContain(name);
    expect(error.hint).toContain('jeex-db keys generate');
    const onlyData = thrown(() => loadColumnCipher({ JEEX_DATA_KEY: formatKey(data) }));
    expect(onlyData.message).toContain('no blind-index key');
    expect(onlyData.message).not.toContain('no data key');
  });

  it('reports every malformed variable at once with INVALID_CONFIG, never the value', () => {
    const error = thrown(() => loadColumnCipher({ JEEX_DATA_KEY: 'short', JEEX_DATA_KEYS: formatKey(data), JEEX_BLIND_INDEX_KEY: 'also-short' }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain('JEEX_DATA_KEY and JEEX_DATA_KEYS are both set');
    expect(error.message).toContain('JEEX_BLIND_INDEX_KEY does not hold a 32-byte key');
    expect(JSON.stringify(error)).not.toContain(formatKey(data));
  });

  it("falls back to the local cluster's keys/ directory; the environment wins", async () => {
    const layout = localLayout(join(dir, 'local'));
    await mkdir(layout.keysDir, { recursive: true, mode: 0o700 });
    await writeFile(layout.dataKeyFile, formatKey(data), { mode: 0o600 });
    await writeFile(layout.blindIndexKeyFile, formatKey(blind), { mode: 0o600 });
    const local = loadColumnCipher({}, { local: layout });
    expect([local.dataKeyId, local.blindIndexKeyId]).toEqual([data.id, blind.id]);
    expect(local.sources.data).toBe(layout.dataKeyFile);
    expect(loadColumnCipher({ JEEX_DATA_KEY: formatKey(old) }, { local: layout }).dataKeyId).toBe(old.id);
    expect(thrown(() => loadColumnCipher({}, {})).code).toBe('ENCRYPTION_KEY_MISSING');
  });
});

describe('encrypted columns in the schema', () => {
  const tables = { users, projects, document_versions: documentVersions, agent_executions: agentExecutions, exports };

  it('refuse plaintext on the way in and non-envelopes on the way out', () => {
    const email = users.email;
    const error = thrown(() => email.mapToDriverValue('ada@example.com'));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('not plaintext');
    expect(thrown(() => email.mapFromDriverValue('ada@example.com')).code).toBe('DECRYPT_FAILED');
    const sealed = newCipher().seal('ada@example.com', 'users.email', uuidv7());
    expect(email.mapToDriverValue(sealed)).toBe(sealed.envelope);
    expect((email.mapFromDriverValue(sealed.envelope) as Sealed).envelope).toBe(sealed.envelope);
  });

  it('are exactly the encrypted columns listed in sensitiveColumns', () => {
    const encrypted: string[] = [];
    for (const [name, table] of Object.entries(tables)) {
      for (const column of getTableConfig(table).columns) {
        try {
          column.mapToDriverValue('plaintext');
        } catch (error) {
          if (error instanceof JeexDbError && error.message.includes('not plaintext')) encrypted.push(`${name}.${column.name}`);
        }
      }
    }
    expect(encrypted.sort()).toEqual(sensitiveColumns.filter((c) => c.protection === 'encrypted').map((c) => `${c.table}.${c.column}`).sort());
  });
});
