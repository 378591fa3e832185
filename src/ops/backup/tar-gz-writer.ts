import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';

const BLOCK = 512;

/**
 * A gzip-compressed tar file written entry by entry, with node-tar's header encoding. Unlike
 * node-tar's `create`, the caller supplies each file's bytes, so they can be hashed and throttled
 * on the way in and a file that shrinks while it is read can be padded to the size in its header
 * (as pg_basebackup does); entries can also come from memory (`backup_label`).
 */
export class TarGzWriter {
  readonly #gzip: Gzip;
  readonly #out: WriteStream;
  readonly #done: Promise<void>;
  #failed: Error | undefined;
  /** Bytes written to the file so far (compressed). */
  get storedBytes(): number {
    return this.#out.bytesWritten;
  }

  readonly #encrypt: Transform | undefined;

  /** `encrypt`: a stream the gzip output goes through before the file (createEncryptStream). */
  constructor(file: string, level = 6, encrypt?: Transform) {
    this.#gzip = createGzip({ level });
    // flush: fsync before close, so the backup's rename into place never outruns its data.
    this.#out = createWriteStream(file, { flags: 'wx', mode: 0o600, flush: true });
    this.#encrypt = encrypt;
    if (encrypt) this.#gzip.pipe(encrypt).pipe(this.#out);
    else this.#gzip.pipe(this.#out);
    const fail = (error: Error) => (this.#failed ??= error);
    this.#gzip.on('error', fail);
    encrypt?.on('error', (error: Error) => {
      fail(error);
      this.#out.destroy(error);
    });
    this.#out.on('error', fail);
    this.#done = new Promise((resolve, reject) => {
      this.#out.on('close', () => (this.#failed ? reject(this.#failed) : resolve()));
      this.#out.on('error', reject);
    });
    // Keep the rejection handled until close() or abort() awaits it.
    this.#done.catch(() => undefined);
  }

  /** Write raw tar bytes, waiting when gzip's buffer is full. */
  async write(chunk: Buffer): Promise<void> {
    this.#throwIfFailed();
    if (!this.#gzip.write(chunk)) await Promise.race([once(this.#gzip, 'drain'), this.#done]);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    const failed: Error | undefined = this.#failed;
    if (failed) throw failed;
  }

  /** The header block(s) of one entry (a PAX header first when a field does not fit ustar). */
  async header(data: HeaderData): Promise<void> {
    const header = new Header(data);
    if (header.encode()) await this.write(new Pax(data).encode());
    await this.write(header.block as Buffer);
  }

  async directory(path: string, data: Omit<HeaderData, 'path' | 'type' | 'size'>): Promise<void> {
    await this.header({ ...data, path: path.endsWith('/') ? path : `${path}/`, type: 'Directory', size: 0 });
  }

  /** Zero bytes that complete the last block of an entry of `size` bytes. */
  async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest) await this.write(Buffer.alloc(BLOCK - rest));
  }

  async file(path: string, data: Buffer, header: Omit<HeaderData, 'path' | 'type' | 'size'>): Promise<void> {
    await this.header({ ...header, path, type: 'File', size: data.length });
    await this.write(data);
    await this.pad(data.length);
  }

  /** End the archive (two zero blocks) and wait until the file is closed. */
  async close(): Promise<void> {
    await this.write(Buffer.alloc(BLOCK * 2));
    this.#gzip.end();
    await this.#done;
  }

  /** Stop writing after a failure; the caller removes the file. */
  async abort(): Promise<void> {
    this.#gzip.destroy();
    this.#encrypt?.destroy();
    this.#out.destroy();
    await this.#done.catch(() => undefined);
  }
}
