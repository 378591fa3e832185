import { createHash } from 'node:crypto';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { EXCLUDED_DIR_CONTENTS, isExcluded, WAL_SUBDIRS } from './exclude.ts';
import type { ManifestFile } from './manifest.ts';
import type { TarGzWriter } from './tar-gz-writer.ts';
import { sleep } from '../../core/sleep.ts';

/** One entry of the data directory found by the walk. */
export interface DataDirEntry {
  path: string;
  type: 'dir' | 'file';
  size: number;
}

export interface CopyProgress {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

const CHUNK = 256 * 1024;

const vanished = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/**
 * The data directory's directories and regular files minus the exclusions, parents before
 * children. `global/pg_control` comes last, as pg_basebackup sends it. Anything that vanishes
 * while we look is skipped: the server drops files during a backup and WAL replay accounts for it.
 */
export async function walkDataDir(dataDir: string): Promise<DataDirEntry[]> {
  const entries: DataDirEntry[] = [];
  let control: DataDirEntry | undefined;
  const visit = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(join(dataDir, rel))).sort();
    } catch (error) {
      if (rel && vanished(error)) return;
      throw error;
    }
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (isExcluded(path)) continue;
      let info;
      try {
        info = await lstat(join(dataDir, path));
      } catch (error) {
        if (vanished(error)) continue;
        throw error;
      }
      if (info.isSymbolicLink()) {
        throw new JeexDbError('BACKUP_FAILED', `The data directory holds a symbolic link (${path}): tablespaces and a linked pg_wal are not supported by jeex-db backup.`, {
          hint: 'Move the tablespace into the default one (ALTER TABLE ... SET TABLESPACE pg_default) or back the cluster up with pg_basebackup.',
          context: { path },
        });
      }
      if (info.isDirectory()) {
        entries.push({ path, type: 'dir', size: 0 });
        if (!EXCLUDED_DIR_CONTENTS.has(path)) await visit(path);
        else if (path === 'pg_wal') for (const sub of WAL_SUBDIRS) entries.push({ path: sub, type: 'dir', size: 0 });
      } else if (info.isFile()) {
        const entry: DataDirEntry = { path, type: 'file', size: info.size };
        if (path === 'global/pg_control') control = entry;
        else entries.push(entry);
      }
    }
  };
  await visit('');
  if (control) entries.push(control);
  return entries;
}

export interface CopyOptions {
  /** Bytes per second, at most (average since the copy began). */
  maxRate?: number;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

/**
 * Copy the walked entries into the tar, hashing each file's bytes as they are written. A file is
 * read up to the size it had when it was opened; one that shrank meanwhile is padded with zeros
 * (replay rewrites it) and one that vanished is skipped. Returns the manifest's file entries.
 */
export async function copyDataDir(dataDir: string, entries: DataDirEntry[], tar: TarGzWriter, options: CopyOptions = {}): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  const filesTotal = entries.filter((e) => e.type === 'file').length;
  const progress: CopyProgress = { bytesDone: 0, bytesTotal: entries.reduce((sum, e) => sum + e.size, 0), filesDone: 0, filesTotal };
  const started = Date.now();
  const buffer = Buffer.alloc(CHUNK);
  const throttle = async () => {
    if (!options.maxRate) return;
    const due = (progress.bytesDone / options.maxRate) * 1000 - (Date.now() - started);
    if (due > 5) await sleep(due);
  };
  for (const entry of entries) {
    options.signal?.throwIfAborted();
    const absolute = join(dataDir, entry.path);
    if (entry.type === 'dir') {
      await tar.directory(entry.path, { mode: 0o700, mtime: new Date() });
      continue;
    }
    let handle;
    try {
      handle = await open(absolute, 'r');
    } catch (error) {
      if (vanished(error)) continue;
      throw error;
    }
    try {
      const info = await handle.stat();
      const size = info.size;
      const hash = createHash('sha256');
      await tar.header({ path: entry.path, type: 'File', size, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, mtime: info.mtime });
      let position = 0;
      while (position < size) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
        // Shrunk while we read it (truncated by VACUUM, say): pad to the size in the header.
        const chunk = bytesRead === 0 ? Buffer.alloc(Math.min(CHUNK, size - position)) : Buffer.from(buffer.subarray(0, bytesRead));
        hash.update(chunk);
        await tar.write(chunk);
        position += chunk.length;
        progress.bytesDone += chunk.length;
        await throttle();
      }
      await tar.pad(size);
      files.push({ path: entry.path, size, mtime: info.mtime, sha256: hash.digest('hex') });
      progress.filesDone += 1;
      progress.bytesTotal = Math.max(progress.bytesTotal, progress.bytesDone);
      options.onProgress?.({ ...progress });
    } finally {
      await handle.close();
    }
  }
  return files;
}
