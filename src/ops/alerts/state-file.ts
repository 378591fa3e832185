import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { writeFileDurable } from '../../platform/durable-fs.ts';

/**
 * A small JSON file the alert engine and its delivery keep their state in (under
 * `<data dir>/alerts/`), written durably (fsync, rename, fsync of the directory) after changes,
 * one write at a time: changes made while a write runs are written by the next one, so a burst of
 * changes costs two writes, not one each.
 *
 * @example
 * const file = new StateFile('/srv/db/.jeex-db/alerts/outbox.json', logger);
 * const saved = file.read(); // undefined when absent or unreadable (logged)
 * file.save(() => outbox.toJSON());
 * await file.flush();
 */
export class StateFile {
  private snapshot: (() => unknown) | undefined;
  private writing: Promise<void> | undefined;
  private failedAt = 0;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** The file's JSON, or undefined when it does not exist; a damaged file is logged (warn) and counts as absent. */
  read(): unknown {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ file: this.path, error: (error as Error).message }, `cannot read ${this.path}; starting without it`);
      return undefined;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      this.logger.warn({ file: this.path, error: (error as Error).message }, `${this.path} is not valid JSON; starting without it (it is overwritten at the next change)`);
      return undefined;
    }
  }

  /** Write what `snapshot()` returns then (not now): soon, after any write in progress. */
  save(snapshot: () => unknown): void {
    this.snapshot = snapshot;
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
    });
  }

  /** Resolves when every change saved so far is on disk (or its write failed, which is logged). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 }).catch(() => {});
    for (let next = this.snapshot; next; next = this.snapshot) {
      this.snapshot = undefined;
      try {
        await writeFileDurable(this.path, `${JSON.stringify(next())}\n`, 0o600);
      } catch (error) {
        // A full or read-only disk must not stop alerting: memory still holds the state. One line a minute at most.
        if (Date.now() - this.failedAt > 60_000) {
          this.failedAt = Date.now();
          this.logger.error({ file: this.path, error: (error as Error).message }, `cannot write ${this.path}: alert state is kept in memory only until it can be written`);
        }
      }
    }
  }
}
