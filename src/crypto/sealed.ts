import { JeexDbError } from '../core/errors.ts';

/** The envelope's version tag: the first field of every sealed value. */
export const ENVELOPE_PREFIX = 'jx1';
/** AES-GCM nonce (96 bits, random per value) and tag (128 bits). */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

// jx1.<key id: 8 hex>.<base64url(nonce | ciphertext | tag)>, no padding. 28 bytes at least (an
// empty plaintext) are 38 base64url characters.
const ENVELOPE = /^jx1\.([0-9a-f]{8})\.([A-Za-z0-9_-]{38,})$/;

/**
 * The envelope pattern as a PostgreSQL regular expression, for the CHECK constraints that keep
 * plaintext out of the encrypted columns even for raw SQL (src/schema/users.ts).
 */
export const ENVELOPE_SQL_PATTERN = '^jx1\\.[0-9a-f]{8}\\.[A-Za-z0-9_-]{38,}$';

/**
 * A value sealed by the column cipher, as stored in an encrypted column:
 * `jx1.<key id>.<base64url(nonce | ciphertext | tag)>`. Opaque on purpose: it is not a string,
 * so plaintext cannot be written to an encrypted column by mistake (the column type refuses
 * anything else), and reading a row gives a `Sealed` that only `ColumnCipher.open` turns back
 * into text.
 *
 * @example
 * const sealed = cipher.seal('ada@example.com', 'users.email', id);
 * sealed.keyId;     // '3f9a0c1e': the data key that sealed it
 * sealed.envelope;  // 'jx1.3f9a0c1e.Xq...' (what the column holds)
 */
export class Sealed {
  /** Makes the type nominal: a string or a look-alike object is not a Sealed. */
  readonly #brand = true;
  readonly envelope: string;
  /** The id of the data key that sealed the value (the first 8 hex of its SHA-256). */
  readonly keyId: string;

  private constructor(envelope: string, keyId: string) {
    this.envelope = envelope;
    this.keyId = keyId;
  }

  /** Whether `value` is a Sealed made by this module (not a string or a copy of its shape). */
  static is(value: unknown): value is Sealed {
    return typeof value === 'object' && value !== null && #brand in value;
  }

  /**
   * Parse a stored envelope. A value that is not one (plaintext written around the column type,
   * a truncated value) is refused with DECRYPT_FAILED naming `where` (never the value).
   */
  static parse(text: string, where = 'an encrypted column'): Sealed {
    const match = typeof text === 'string' ? ENVELOPE.exec(text) : null;
    if (!match?.[1]) {
      throw new JeexDbError('DECRYPT_FAILED', `${where} does not hold a jeex-db envelope (jx1.<key id>.<data>): it was written without the column cipher, or changed.`, {
        hint: 'Write encrypted columns only through the query functions (createUser, ...), which seal the values; restore the row from a backup if it was changed.',
        context: { where },
      });
    }
    return new Sealed(text, match[1]);
  }

  /** @internal Build from the parts (ColumnCipher.seal). */
  static fromParts(keyId: string, payload: Buffer): Sealed {
    return new Sealed(`${ENVELOPE_PREFIX}.${keyId}.${payload.toString('base64url')}`, keyId);
  }

  /** nonce | ciphertext | tag. */
  payload(): Buffer {
    return Buffer.from(this.envelope.slice(ENVELOPE_PREFIX.length + 10), 'base64url');
  }

  toString(): string {
    return this.envelope;
  }

  toJSON(): string {
    return this.envelope;
  }
}
