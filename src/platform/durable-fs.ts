import { open, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes that survive a crash or a power cut. A rename is atomic, but without an fsync first the
 * file system may commit the rename before the file's data: after a crash the new name points at
 * an empty or short file. So every write-then-rename in the backup code goes through here: the
 * data is fsynced before the rename, and the directory after it (the rename itself is a change
 * of the directory), as PostgreSQL's durable_rename() does.
 */

/** fsync one file or directory by path (a directory is opened read-only, which Linux allows). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Rename `from` to `to` durably: `from` (a file, or a directory and the files directly in it
 * when `files` lists them) is fsynced first, the directory that now holds `to` after.
 *
 * @example
 * await renameDurable(`${dir}.partial`, dir, ['base.tar.gz', 'backup_manifest', 'backup.json']);
 */
export async function renameDurable(from: string, to: string, files: readonly string[] = []): Promise<void> {
  for (const name of files) await fsyncPath(`${from}/${name}`);
  await fsyncPath(from);
  await rename(from, to);
  await fsyncPath(dirname(to));
}

/**
 * Write `data` to `file` through `<file>.tmp`: written, fsynced, renamed over `file`, and the
 * directory fsynced. A reader (or a crash) sees the old file or the whole new one, never a part.
 *
 * @example
 * await writeFileDurable(join(dir, 'backup.json'), `${JSON.stringify(record)}\n`, 0o600);
 */
export async function writeFileDurable(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const temp = `${file}.tmp`;
  await writeFile(temp, data, { mode });
  await renameDurable(temp, file);
}

/** Write a new file and fsync it (and its directory), for files that are not renamed into place. */
export async function writeNewFileDurable(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  await writeFile(file, data, { mode, flag: 'wx', flush: true });
  await fsyncPath(dirname(file));
}
