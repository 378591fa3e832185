import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import type { RunAs } from '../platform/exec.ts';

function notWritable(path: string, why: string, hint: string, cause?: unknown): JeexDbError {
  return new JeexDbError('DATA_DIR_NOT_WRITABLE', `data directory ${path}: ${why}`, {
    hint,
    context: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

const fixHint = (path: string) =>
  `Choose another place with --data-dir DIR, or fix the permissions of ${path} (\`ls -ld ${path}\`).`;

/**
 * Create the data directory layout, owned so that both we (state, secrets) and the server's
 * OS user (pgdata, log) can work in it. Fails with DATA_DIR_NOT_WRITABLE naming the path.
 */
export async function prepareDataDir(layout: LocalLayout, as: RunAs | undefined): Promise<void> {
  // Check first, so a refused directory leaves nothing behind.
  if (as) await checkReachable(await nearestExisting(dirname(layout.root)), as);
  try {
    // When the server runs as another user, it must pass through every directory we create.
    await mkdir(layout.root, { recursive: true, mode: as ? 0o711 : 0o700 });
    const info = await stat(layout.root);
    if (!info.isDirectory()) throw notWritable(layout.root, 'exists and is not a directory', fixHint(layout.root));
    const probe = join(layout.root, `.write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (error) {
    if (error instanceof JeexDbError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw notWritable(layout.root, `cannot create or write it (${code})`, fixHint(layout.root), error);
  }

  if (as) {
    // The server's user must be able to pass through our directory into its own ones.
    await chmod(layout.root, 0o711);
  }
  for (const dir of [layout.pgdata, layout.logDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (as) await chown(dir, as.uid, as.gid);
    try {
      await access(dir, constants.W_OK);
    } catch (error) {
      throw notWritable(dir, 'is not writable', fixHint(dir), error);
    }
  }
}

/**
 * Check that the OS user `as` can traverse every directory down to `path`, reporting the first
 * one it cannot enter (a typical case: a 0700 home or temp directory owned by root).
 */
export async function checkReachable(path: string, as: RunAs): Promise<void> {
  let current = path;
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const dir of chain) {
    const info = await stat(dir);
    const mode = info.mode;
    const canEnter =
      info.uid === as.uid ? (mode & 0o100) !== 0 : info.gid === as.gid ? (mode & 0o010) !== 0 : (mode & 0o001) !== 0;
    if (!canEnter) {
      const octal = (mode & 0o777).toString(8).padStart(4, '0');
      throw notWritable(
        dir,
        `PostgreSQL runs as OS user ${as.name} (it refuses root), and ${as.name} cannot enter ${dir} (mode ${octal}, owner uid ${info.uid})`,
        `Let it through with \`chmod o+x ${dir}\`, or choose a data directory ${as.name} can reach with --data-dir.`,
      );
    }
  }
}

async function nearestExisting(path: string): Promise<string> {
  for (let current = path; ; current = dirname(current)) {
    try {
      await stat(current);
      return current;
    } catch {
      if (dirname(current) === current) return current;
    }
  }
}

/** The major version in PG_VERSION, or undefined when the cluster has not been created yet. */
export async function clusterMajor(pgdata: string): Promise<number | undefined> {
  try {
    return Number.parseInt((await readFile(join(pgdata, 'PG_VERSION'), 'utf8')).trim(), 10);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Refuse a cluster made by another PostgreSQL major version, before the server does. */
export async function checkClusterVersion(pgdata: string, expected: number): Promise<'new' | 'existing'> {
  const major = await clusterMajor(pgdata);
  if (major === undefined) return 'new';
  if (major !== expected) {
    throw new JeexDbError(
      'DATA_DIR_VERSION_MISMATCH',
      `${pgdata} holds a PostgreSQL ${major} cluster, but jeex-db runs PostgreSQL ${expected}`,
      {
        hint:
          major < expected
            ? `Keep it and upgrade it with pg_upgrade (PostgreSQL ${expected}), or move the directory aside and run \`jeex-db up\` again for a fresh cluster.`
            : `It was made by a newer PostgreSQL; use a jeex-db with PostgreSQL ${major}, or choose another --data-dir.`,
        context: { pgdata, clusterMajor: major, serverMajor: expected },
      },
    );
  }
  return 'existing';
}

/** True when the directory exists and has anything in it. */
export async function isNonEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}
