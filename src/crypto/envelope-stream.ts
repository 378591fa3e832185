import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { JeexDbError } from '../core/errors.ts';
import type { EncryptionKey } from './keys.ts';

/**
 * Streaming AES-256-GCM for files too large to hold in memory (base backups).
 *
 *     header  "JEEXENC1" | version (1 byte) | key id (8 ASCII hex) | salt (16 random bytes) | chunk size (u32 BE)
 *     chunk 0 ciphertext (chunk size bytes) | tag (16)
 *     ...
 *     last    ciphertext (0 to chunk size bytes) | tag (16)
 *
 * Each file gets its own AES key, HKDF-SHA-256(master key, salt), so nonces never repeat across
 * files; chunk i is sealed with the nonce salt[0..4] | i (u64 BE) and the associated data
 * header | i (u64 BE) | final flag. Changing the header, a byte of a chunk, the order of chunks,
 * or cutting the file (even at a chunk boundary: no chunk then carries the final flag) makes
 * authentication fail. Only the last chunk may be short, and it is always present (an empty
 * input is one empty final chunk).
 */
export const ENVELOPE_MAGIC = Buffer.from('JEEXENC1', 'ascii');
export const ENVELOPE_VERSION = 1;
export const HEADER_BYTES = ENVELOPE_MAGIC.length + 1 + 8 + 16 + 4;
export const TAG_BYTES = 16;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
const MIN_CHUNK_BYTES = 16;
const MAX_CHUNK_BYTES = 16 * 2 ** 20;
const HKDF_INFO = Buffer.from('JEEXENC1 file key', 'ascii');

export interface EnvelopeHeader {
  version: number;
  keyId: string;
  salt: Buffer;
  chunkBytes: number;
  /** The header's bytes as stored (bound into every chunk's associated data). */
  raw: Buffer;
}

const fileKey = (key: EncryptionKey, salt: Buffer): Buffer => Buffer.from(hkdfSync('sha256', key.material, salt, HKDF_INFO, 32));

function nonce(salt: Buffer, index: bigint): Buffer {
  const out = Buffer.alloc(12);
  salt.copy(out, 0, 0, 4);
  out.writeBigUInt64BE(index, 4);
  return out;
}

function associatedData(header: Buffer, index: bigint, final: boolean): Buffer {
  const out = Buffer.alloc(header.length + 9);
  header.copy(out);
  out.writeBigUInt64BE(index, header.length);
  out[header.length + 8] = final ? 1 : 0;
  return out;
}

const decryptFailed = (message: string, hint: string, context: Record<string, unknown> = {}) => new JeexDbError('BACKUP_DECRYPT_FAILED', message, { hint, context });

/** Parse and check an envelope header (the first HEADER_BYTES bytes of an encrypted file). */
export function parseEnvelopeHeader(raw: Buffer, source = 'the file'): EnvelopeHeader {
  if (raw.length < HEADER_BYTES || !raw.subarray(0, ENVELOPE_MAGIC.length).equals(ENVELOPE_MAGIC)) {
    throw decryptFailed(`${source} is not a jeex-db encrypted file (no JEEXENC1 header): it was changed, truncated or never encrypted.`, 'Check that the file is the one the backup record names; restore it from another copy if it was damaged.');
  }
  const version = raw[ENVELOPE_MAGIC.length] ?? 0;
  const keyId = raw.toString('ascii', ENVELOPE_MAGIC.length + 1, ENVELOPE_MAGIC.length + 9);
  const salt = Buffer.from(raw.subarray(ENVELOPE_MAGIC.length + 9, ENVELOPE_MAGIC.length + 25));
  const chunkBytes = raw.readUInt32BE(ENVELOPE_MAGIC.length + 25);
  if (version !== ENVELOPE_VERSION) throw decryptFailed(`${source} uses encryption format version ${version}; this jeex-db reads version ${ENVELOPE_VERSION}.`, 'Use the jeex-db version that wrote the backup, or check the file was not changed.');
  if (!/^[0-9a-f]{8}$/.test(keyId) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
    throw decryptFailed(`${source} has a damaged encryption header: the file was changed.`, 'Restore the file from another copy, or use another backup.');
  }
  return { version, keyId, salt, chunkBytes, raw: Buffer.from(raw.subarray(0, HEADER_BYTES)) };
}

function renderHeader(key: EncryptionKey, salt: Buffer, chunkBytes: number): Buffer {
  const raw = Buffer.alloc(HEADER_BYTES);
  ENVELOPE_MAGIC.copy(raw);
  raw[ENVELOPE_MAGIC.length] = ENVELOPE_VERSION;
  raw.write(key.id, ENVELOPE_MAGIC.length + 1, 8, 'ascii');
  salt.copy(raw, ENVELOPE_MAGIC.length + 9);
  raw.writeUInt32BE(chunkBytes, ENVELOPE_MAGIC.length + 25);
  return raw;
}

/** Collects written bytes and hands them back in one buffer when asked. */
class Pending {
  #parts: Buffer[] = [];
  length = 0;
  push(chunk: Buffer): void {
    this.#parts.push(chunk);
    this.length += chunk.length;
  }
  take(): Buffer {
    const all = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts);
    this.#parts = [];
    this.length = 0;
    return all;
  }
}

export interface EncryptStreamOptions {
  /** Plaintext bytes per chunk (default 64 KiB). */
  chunkBytes?: number;
}

/**
 * A Transform that encrypts what is written to it into the envelope format.
 *
 * @example
 * await pipeline(createReadStream('base.tar.gz'), createEncryptStream(key), createWriteStream('base.tar.gz.enc'));
 */
export function createEncryptStream(key: EncryptionKey, options: EncryptStreamOptions = {}): Transform {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) throw new RangeError(`chunkBytes must be a whole number from ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}`);
  const salt = randomBytes(16);
  const header = renderHeader(key, salt, chunkBytes);
  const aesKey = fileKey(key, salt);
  const pending = new Pending();
  let index = 0n;
  let started = false;

  const seal = (stream: Transform, plain: Buffer, final: boolean) => {
    const cipher = createCipheriv('aes-256-gcm', aesKey, nonce(salt, index), { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(header, index, final));
    const body = cipher.update(plain);
    cipher.final();
    stream.push(Buffer.concat([body, cipher.getAuthTag()]));
    index += 1n;
  };
  const start = (stream: Transform) => {
    if (!started) stream.push(header);
    started = true;
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      start(this);
      pending.push(chunk);
      // A chunk is sealed as non-final only once more bytes are known to follow it.
      if (pending.length > chunkBytes) {
        const all = pending.take();
        let at = 0;
        for (; all.length - at > chunkBytes; at += chunkBytes) seal(this, all.subarray(at, at + chunkBytes), false);
        pending.push(all.subarray(at));
      }
      callback();
    },
    flush(callback: TransformCallback) {
      start(this);
      seal(this, pending.take(), true);
      callback();
    },
  });
}

export interface DecryptStreamOptions {
  /** How the file is named in error messages (default "the file"). */
  source?: string;
}

/**
 * A Transform that decrypts the envelope format with whichever of `keys` the header names.
 * Plaintext is released chunk by chunk as each is authenticated; the stream fails with
 * BACKUP_DECRYPT_FAILED on a key not in `keys`, a chunk that fails authentication, or a file
 * that ends before its final chunk, so a consumer must treat its output as valid only when the
 * stream ends without an error.
 *
 * @example
 * await pipeline(createReadStream('base.tar.gz.enc'), createDecryptStream(loadKeys()), createWriteStream('base.tar.gz'));
 */
export function createDecryptStream(keys: readonly EncryptionKey[], options: DecryptStreamOptions = {}): Transform {
  const source = options.source ?? 'the file';
  const pending = new Pending();
  let header: EnvelopeHeader | undefined;
  let aesKey: Buffer | undefined;
  let index = 0n;

  const tampered = (n: bigint) =>
    decryptFailed(`${source}: chunk ${n} failed authentication: the file was changed or truncated.`, 'Do not use this copy: restore the file from another copy, or use another backup.', { chunk: Number(n) });
  const open = (stream: Transform, sealed: Buffer, final: boolean) => {
    if (!header || !aesKey) throw tampered(index);
    const decipher = createDecipheriv('aes-256-gcm', aesKey, nonce(header.salt, index), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(header.raw, index, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      decipher.final();
      if (plain.length > 0) stream.push(plain);
    } catch {
      throw tampered(index);
    }
    index += 1n;
  };
  const readHeader = (): void => {
    if (header || pending.length < HEADER_BYTES) return;
    const all = pending.take();
    const parsed = parseEnvelopeHeader(all, source);
    const key = keys.find((k) => k.id === parsed.keyId);
    if (!key) {
      throw decryptFailed(
        `${source} was encrypted with key ${parsed.keyId}, which is not among the keys given${keys.length > 0 ? ` (${keys.map((k) => k.id).join(', ')})` : ' (none: no key is configured)'}.`,
        `Set JEEX_BACKUP_KEY (or JEEX_BACKUP_KEY_FILE, or JEEX_BACKUP_KEYS for several) to the key with id ${parsed.keyId}; \`jeex-db keys generate\` prints a key's id next to it.`,
        { keyId: parsed.keyId, keysGiven: keys.map((k) => k.id) },
      );
    }
    header = parsed;
    aesKey = fileKey(key, parsed.salt);
    pending.push(all.subarray(HEADER_BYTES));
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending.push(chunk);
        readHeader();
        if (header && pending.length > header.chunkBytes + TAG_BYTES) {
          const sealedBytes = header.chunkBytes + TAG_BYTES;
          const all = pending.take();
          let at = 0;
          for (; all.length - at > sealedBytes; at += sealedBytes) open(this, all.subarray(at, at + sealedBytes), false);
          pending.push(all.subarray(at));
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        readHeader();
        // Fewer bytes than a header: parseEnvelopeHeader says the file is not (all) there.
        if (!header) parseEnvelopeHeader(pending.take(), source);
        // What is left is the final chunk; shorter than a tag means the file was cut.
        const rest = pending.take();
        if (rest.length < TAG_BYTES) throw tampered(index);
        open(this, rest, true);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
