import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { JeexDbError } from '../core/errors.ts';
import type { EncryptionKey } from './keys.ts';
import { ENVELOPE_PREFIX, NONCE_BYTES, Sealed, TAG_BYTES } from './sealed.ts';

/** `<table>.<column>` of an encrypted column, bound into its values' associated data. */
export type ColumnId = `${string}.${string}`;

/** The keys of a column cipher: the first of each list is current, all of them are read. */
export interface CipherKeys {
  /** AES-256-GCM keys for the encrypted columns (JEEX_DATA_KEY / _FILE / _KEYS). */
  data: readonly EncryptionKey[];
  /** HMAC-SHA-256 keys for the blind index (JEEX_BLIND_INDEX_KEY / _FILE / _KEYS). */
  blindIndex: readonly EncryptionKey[];
}

/** Where the keys came from, for messages (`JEEX_DATA_KEYS`, `.jeex-db/keys/data.key`, `option keys`). */
export interface CipherKeySources {
  data: string;
  blindIndex: string;
}

/** A blind index value: the key id (4 bytes) then HMAC-SHA-256 (32 bytes). */
export const BLIND_INDEX_BYTES = 36;

/**
 * Normalise an email before it is hashed for the blind index, so that lookups and uniqueness
 * ignore case as the data model asks (`A@x.io` and `a@x.io` are one user): Unicode NFKC, trimmed,
 * lower-cased.
 */
export function normalizeEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase();
}

/**
 * Application-side encryption of sensitive columns (SEC-001): AES-256-GCM with a random 96-bit
 * nonce per value; the associated data `jx1|<table>.<column>|<row id>` binds each value to its
 * row and column, so a ciphertext copied elsewhere fails authentication. Values are stored as
 * envelopes `jx1.<key id>.<base64url(nonce | ciphertext | tag)>` (see `Sealed`). The first data
 * key seals; every data key opens, so rows sealed under an older key stay readable during a
 * rotation (`rotateDataKey`).
 *
 * Emails are also given a blind index: HMAC-SHA-256 of the normalised email under its own key,
 * prefixed with that key's id, which the database can compare (lookups, the unique constraint)
 * without learning the email.
 *
 * @example
 * const cipher = new ColumnCipher({ data: [generateKey()], blindIndex: [generateKey()] });
 * const sealed = cipher.seal('ada@example.com', 'users.email', id);
 * cipher.open(sealed, 'users.email', id); // 'ada@example.com'
 * cipher.blindIndex('Ada@Example.com');  // 36 bytes, equal to that of 'ada@example.com'
 */
export class ColumnCipher {
  readonly #data: readonly EncryptionKey[];
  readonly #blindIndex: readonly EncryptionKey[];
  readonly #byId: ReadonlyMap<string, EncryptionKey>;
  readonly sources: CipherKeySources;

  constructor(keys: CipherKeys, sources: CipherKeySources = { data: 'option keys.data', blindIndex: 'option keys.blindIndex' }) {
    const problems: string[] = [];
    if (keys.data.length === 0) problems.push(`no data key (${sources.data})`);
    if (keys.blindIndex.length === 0) problems.push(`no blind-index key (${sources.blindIndex})`);
    if (problems.length > 0) throw missingKeys(problems);
    const dataIds = new Set(keys.data.map((k) => k.id));
    const shared = keys.blindIndex.filter((k) => dataIds.has(k.id)).map((k) => k.id);
    if (shared.length > 0) {
      throw new JeexDbError('INVALID_CONFIG', `the blind-index key must not be a data key, but key ${shared.join(', ')} is both (${sources.data}, ${sources.blindIndex}).`, {
        hint: 'Generate a separate key for the blind index with `jeex-db keys generate`: one key must not both encrypt and hash.',
        context: { keyIds: shared },
      });
    }
    this.#data = [...keys.data];
    this.#blindIndex = [...keys.blindIndex];
    this.#byId = new Map(keys.data.map((k) => [k.id, k]));
    this.sources = sources;
  }

  /** The id of the data key that seals new values. */
  get dataKeyId(): string {
    return (this.#data[0] as EncryptionKey).id;
  }

  /** Every data key id this cipher can open, the current one first. */
  get dataKeyIds(): string[] {
    return this.#data.map((k) => k.id);
  }

  /** The id of the blind-index key new rows are hashed with. */
  get blindIndexKeyId(): string {
    return (this.#blindIndex[0] as EncryptionKey).id;
  }

  get blindIndexKeyIds(): string[] {
    return this.#blindIndex.map((k) => k.id);
  }

  /** Encrypt `plaintext` for `column` of the row `rowId` under the current data key. */
  seal(plaintext: string, column: ColumnId, rowId: string): Sealed {
    const key = this.#data[0] as EncryptionKey;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.material, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(column, rowId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Sealed.fromParts(key.id, Buffer.concat([nonce, body, cipher.getAuthTag()]));
  }

  /**
   * Decrypt a value of `column` of the row `rowId`. Fails with ENCRYPTION_KEY_UNKNOWN when the
   * key that sealed it is not configured (naming its id), and with DECRYPT_FAILED when it does
   * not authenticate: changed, or copied from another row or column.
   */
  open(value: Sealed, column: ColumnId, rowId: string): string {
    // A plain JavaScript caller may hand over the stored text: parse it (refused if not an envelope).
    const sealed = Sealed.is(value) ? value : Sealed.parse(String(value), `${column} of row ${rowId}`);
    const key = this.#byId.get(sealed.keyId);
    if (!key) {
      throw new JeexDbError(
        'ENCRYPTION_KEY_UNKNOWN',
        `${column} of row ${rowId} is sealed with data key ${sealed.keyId}, which is not configured (${this.sources.data} has ${this.dataKeyIds.join(', ')}).`,
        {
          hint: `Add the key with id ${sealed.keyId} to JEEX_DATA_KEYS (comma-separated, the current key first) or to the file JEEX_DATA_KEY_FILE names; \`jeex-db keys status\` lists the key ids in use. A key is never removed before \`jeex-db keys rotate\` has moved every row off it.`,
          table: column.split('.')[0] ?? '',
          columns: [column.split('.')[1] ?? ''],
          context: { keyId: sealed.keyId, configured: this.dataKeyIds },
        },
      );
    }
    const payload = sealed.payload();
    const tampered = () =>
      new JeexDbError('DECRYPT_FAILED', `${column} of row ${rowId} failed authentication under data key ${sealed.keyId}: the stored value was changed, or copied from another row or column.`, {
        hint: 'Restore the row from a backup; nothing can recover a value that fails authentication.',
        table: column.split('.')[0] ?? '',
        columns: [column.split('.')[1] ?? ''],
        context: { keyId: sealed.keyId },
      });
    // base64url has several spellings of the same bytes (the unused low bits of the last
    // character): only the one seal() writes is accepted, so any changed character fails.
    if (payload.length < NONCE_BYTES + TAG_BYTES || payload.toString('base64url') !== sealed.envelope.slice(ENVELOPE_PREFIX.length + 10)) throw tampered();
    const decipher = createDecipheriv('aes-256-gcm', key.material, payload.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(column, rowId));
    decipher.setAuthTag(payload.subarray(payload.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(payload.subarray(NONCE_BYTES, payload.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw tampered();
    }
  }

  /** Whether `sealed` is under the current data key (nothing for a rotation to do). */
  isCurrent(sealed: Sealed): boolean {
    return sealed.keyId === this.dataKeyId;
  }

  /** The blind index of `email` under the current blind-index key: what new rows store. */
  blindIndex(email: string): Buffer {
    return blindIndexWith(this.#blindIndex[0] as EncryptionKey, email);
  }

  /** The blind index of `email` under every configured key (lookups during a rotation). */
  blindIndexes(email: string): Buffer[] {
    return this.#blindIndex.map((key) => blindIndexWith(key, email));
  }

  /** The key id a stored blind index was computed with (its first 4 bytes, as hex). */
  static blindIndexKeyId(value: Buffer): string {
    return value.subarray(0, 4).toString('hex');
  }
}

function associatedData(column: ColumnId, rowId: string): Buffer {
  return Buffer.from(`${ENVELOPE_PREFIX}|${column}|${rowId}`, 'utf8');
}

function blindIndexWith(key: EncryptionKey, email: string): Buffer {
  const mac = createHmac('sha256', key.material).update(normalizeEmail(email), 'utf8').digest();
  return Buffer.concat([Buffer.from(key.id, 'hex'), mac]);
}

/** ENCRYPTION_KEY_MISSING, naming every variable that can supply the missing keys. */
export function missingKeys(problems: string[]): JeexDbError {
  return new JeexDbError('ENCRYPTION_KEY_MISSING', `users' email and name are encrypted, but the keys are not configured: ${problems.join('; ')}.`, {
    hint:
      'Set JEEX_DATA_KEY (or JEEX_DATA_KEY_FILE, or JEEX_DATA_KEYS during a rotation) and a different JEEX_BLIND_INDEX_KEY (or JEEX_BLIND_INDEX_KEY_FILE), ' +
      'each to a key from `jeex-db keys generate`, or pass createDb({ keys }). The local cluster of `jeex-db up` makes them in <data-dir>/keys/.',
    context: { problems },
  });
}
