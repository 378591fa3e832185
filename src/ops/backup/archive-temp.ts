import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupRepo } from './repo.ts';

/**
 * basic_archive copies each segment to `archtemp.<segment>.<pid>.<epoch ms>` in the archive and
 * renames it into place. A copy that fails (a full disk: the failed copy stays, and every retry
 * adds one) or a server that crashes mid-copy leaves that file behind for good; PostgreSQL's
 * documentation says to delete them. They hold disk space the archive needs.
 */
const ARCHTEMP = /^archtemp\.([0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)\.(\d+)\.(\d+)$/;

/** Default: a temporary file nothing wrote for 10 minutes is no copy in progress. */
export const ARCHIVE_TEMP_MIN_AGE_MS = 10 * 60_000;

export interface ArchiveTempFile {
  name: string;
  /** The WAL file it was a copy of, and the archiver process that made it. */
  walFile: string;
  pid: number;
  bytes: number;
  /** Milliseconds since it was last written. */
  ageMs: number;
}

export interface ArchiveTempCleanup {
  /** Removed (or, with `dryRun`, that would be): stale copies. */
  removed: ArchiveTempFile[];
  /** Left alone: written less than `minAgeMs` ago, so possibly a copy in progress. */
  kept: ArchiveTempFile[];
  freedBytes: number;
}

/**
 * Remove basic_archive's stale temporary files (`archtemp.*`) from `<repo>/wal`: those nothing
 * wrote for `minAgeMs` (default 10 minutes). A copy in progress writes continuously, so a younger
 * one is never touched. `up` runs this before archiving starts, `backups prune` with the rest.
 *
 * @example
 * const { removed, freedBytes } = await cleanArchiveTemp(defaultRepo(localLayout()));
 */
export async function cleanArchiveTemp(repo: BackupRepo, options: { minAgeMs?: number; now?: () => Date; dryRun?: boolean } = {}): Promise<ArchiveTempCleanup> {
  const minAgeMs = options.minAgeMs ?? ARCHIVE_TEMP_MIN_AGE_MS;
  const now = (options.now ?? (() => new Date()))().getTime();
  const result: ArchiveTempCleanup = { removed: [], kept: [], freedBytes: 0 };
  const names = await readdir(repo.wal).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  for (const name of names.sort()) {
    const match = ARCHTEMP.exec(name);
    if (!match) continue;
    const info = await lstat(join(repo.wal, name)).catch(() => undefined);
    if (!info?.isFile()) continue;
    const file: ArchiveTempFile = { name, walFile: match[1] ?? '', pid: Number(match[2]), bytes: info.size, ageMs: Math.max(0, now - info.mtimeMs) };
    if (file.ageMs < minAgeMs) {
      result.kept.push(file);
      continue;
    }
    if (!options.dryRun) {
      try {
        await unlink(join(repo.wal, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
    }
    result.removed.push(file);
    result.freedBytes += file.bytes;
  }
  return result;
}
