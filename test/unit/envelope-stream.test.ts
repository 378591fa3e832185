import { randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream, DEFAULT_CHUNK_BYTES, HEADER_BYTES, TAG_BYTES } from '../../src/crypto/envelope-stream.ts';
import { generateKey, type EncryptionKey } from '../../src/crypto/keys.ts';
import { JeexDbError } from '../../src/core/errors.ts';

/** Push `data` through `transform` in pieces of `piece` bytes and collect the output. */
async function through(transform: Transform, data: Buffer, piece = 10_000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += piece) pieces.push(data.subarray(at, at + piece));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer | string>) => {
    for await (const chunk of source) out.push(Buffer.from(chunk));
  });
  return Buffer.concat(out);
}

const encrypt = (key: EncryptionKey, data: Buffer, chunkBytes?: number) => through(createEncryptStream(key, chunkBytes ? { chunkBytes } : {}), data);
const decrypt = (keys: EncryptionKey[], data: Buffer, piece?: number) => through(createDecryptStream(keys, { source: 'base.tar.gz.enc' }), data, piece);

async function decryptError(keys: EncryptionKey[], data: Buffer): Promise<JeexDbError> {
  const error: unknown = await decrypt(keys, data).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JeexDbError);
  expect((error as JeexDbError).code).toBe('BACKUP_DECRYPT_FAILED');
  return error as JeexDbError;
}

describe('envelope stream (AES-256-GCM in chunks)', () => {
  const key = generateKey();
  const C = DEFAULT_CHUNK_BYTES;
  const SEALED = C + TAG_BYTES;

  it.each([
    ['0 bytes', 0],
    ['1 byte', 1],
    ['one byte short of a chunk', C - 1],
    ['exactly one chunk', C],
    ['one chunk and a byte', C + 1],
    ['exactly three chunks', 3 * C],
    ['many chunks and a bit (1 MiB + 123)', 2 ** 20 + 123],
  ])('round-trips %s', async (_name, size) => {
    const plain = randomBytes(size);
    const cipher = await encrypt(key, plain);
    // Header, then full chunks, then one final chunk (possibly empty) each with its tag.
    const chunks = Math.max(1, Math.ceil(size / C));
    expect(cipher.length).toBe(HEADER_BYTES + size + chunks * TAG_BYTES);
    expect(cipher.subarray(0, 8).toString('ascii')).toBe('JEEXENC1');
    expect(cipher.subarray(9, 17).toString('ascii')).toBe(key.id);
    // Read in pieces that do not line up with chunks, and in one piece.
    expect((await decrypt([key], cipher, 7_777)).equals(plain)).toBe(true);
    expect((await decrypt([key], cipher, cipher.length + 1)).equals(plain)).toBe(true);
  });

  it('hides the plaintext and never repeats a ciphertext for the same input', async () => {
    const plain = Buffer.from('marker-plaintext@example.com '.repeat(5000));
    const a = await encrypt(key, plain);
    const b = await encrypt(key, plain);
    expect(a.includes(Buffer.from('marker-plaintext'))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('decrypts with any of several keys (rotation) and names the missing key otherwise', async () => {
    const old = generateKey();
    const other = generateKey();
    const cipher = await encrypt(old, Buffer.from('hello'));
    expect((await decrypt([generateKey(), old], cipher)).toString()).toBe('hello');
    const error = await decryptError([other], cipher);
    expect(error.message).toContain(`encrypted with key ${old.id}, which is not among the keys given`);
    expect(error.message).toContain(other.id);
    expect((await decryptError([], cipher)).message).toContain('no key is configured');
  });

  describe('tampering fails authentication', () => {
    const plain = randomBytes(3 * C + 500);
    const cipherP = encrypt(key, plain);
    const chunkAt = (i: number) => HEADER_BYTES + i * SEALED;

    it('a flipped byte in a chunk', async () => {
      const cipher = Buffer.from(await cipherP);
      cipher[chunkAt(1) + 100] = (cipher[chunkAt(1) + 100] ?? 0) ^ 0x01;
      expect((await decryptError([key], cipher)).message).toContain('chunk 1 failed authentication: the file was changed or truncated');
    });

    it('a flipped byte in a tag', async () => {
      const cipher = Buffer.from(await cipherP);
      cipher[cipher.length - 1] = (cipher[cipher.length - 1] ?? 0) ^ 0x80;
      expect((await decryptError([key], cipher)).message).toContain('chunk 3 failed authentication');
    });

    it('a file cut inside a chunk, at a chunk boundary, inside the header, or emptied', async () => {
      const cipher = await cipherP;
      expect((await decryptError([key], cipher.subarray(0, cipher.length - 10))).message).toContain('chunk 3 failed authentication');
      // At a boundary: chunk 2 is complete but was not sealed as the final one.
      expect((await decryptError([key], cipher.subarray(0, chunkAt(3)))).message).toContain('chunk 2 failed authentication');
      expect((await decryptError([key], cipher.subarray(0, chunkAt(3) + 5))).message).toContain('chunk 3 failed authentication');
      expect((await decryptError([key], cipher.subarray(0, 20))).message).toContain('not a jeex-db encrypted file');
      expect((await decryptError([key], Buffer.alloc(0))).message).toContain('not a jeex-db encrypted file');
    });

    it('bytes appended after the final chunk', async () => {
      const cipher = Buffer.concat([await cipherP, randomBytes(40)]);
      await decryptError([key], cipher);
    });

    it('two chunks swapped', async () => {
      const cipher = Buffer.from(await cipherP);
      const one = Buffer.from(cipher.subarray(chunkAt(0), chunkAt(1)));
      cipher.subarray(chunkAt(1), chunkAt(2)).copy(cipher, chunkAt(0));
      one.copy(cipher, chunkAt(1));
      expect((await decryptError([key], cipher)).message).toContain('chunk 0 failed authentication');
    });

    it('a chunk of another file encrypted with the same key', async () => {
      const cipher = Buffer.from(await cipherP);
      const otherFile = await encrypt(key, plain);
      otherFile.subarray(chunkAt(1), chunkAt(2)).copy(cipher, chunkAt(1));
      expect((await decryptError([key], cipher)).message).toContain('chunk 1 failed authentication');
    });

    it('an edited header: salt, chunk size, key id, magic', async () => {
      const cipher = await cipherP;
      const edit = (at: number, value: number) => {
        const copy = Buffer.from(cipher);
        copy[at] = value;
        return copy;
      };
      expect((await decryptError([key], edit(20, (cipher[20] ?? 0) ^ 1))).message).toContain('chunk 0 failed authentication');
      // Chunk size 0x00010000 → 0x00010001: the chunks no longer line up, and the header is bound.
      expect((await decryptError([key], edit(HEADER_BYTES - 1, 1))).message).toContain('chunk 0 failed authentication');
      expect((await decryptError([key], edit(9, 'z'.charCodeAt(0)))).message).toContain('damaged encryption header');
      expect((await decryptError([key], edit(0, 'X'.charCodeAt(0)))).message).toContain('not a jeex-db encrypted file');
      expect((await decryptError([key], edit(8, 2))).message).toContain('format version 2');
    });
  });

  it('refuses chunk sizes outside 16 B to 16 MiB when encrypting', () => {
    expect(() => createEncryptStream(key, { chunkBytes: 8 })).toThrow(RangeError);
    expect(() => createEncryptStream(key, { chunkBytes: 32 * 2 ** 20 })).toThrow(RangeError);
  });

  it('works with small chunks too (many chunks for a small input)', async () => {
    const plain = randomBytes(10_000);
    const cipher = await encrypt(key, plain, 64);
    expect(cipher.length).toBe(HEADER_BYTES + plain.length + Math.ceil(plain.length / 64) * TAG_BYTES);
    expect((await decrypt([key], cipher, 333)).equals(plain)).toBe(true);
  });
});
