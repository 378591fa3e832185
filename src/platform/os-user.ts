import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { JeexDbError } from '../core/errors.ts';
import type { RunAs } from './exec.ts';

const execFileAsync = promisify(execFile);

/** The default unprivileged OS user the server runs as when jeex-db is started as root. */
export const DEFAULT_OS_USER = 'postgres';

/**
 * PostgreSQL refuses to run as root. When we are root, find the unprivileged user to run the
 * server binaries as; otherwise they run as ourselves (undefined).
 */
export async function serverOsUser(name: string = DEFAULT_OS_USER): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then((r) => Number.parseInt(r.stdout, 10)),
      execFileAsync('id', ['-g', name]).then((r) => Number.parseInt(r.stdout, 10)),
    ]);
    if (uid === 0) {
      throw new JeexDbError('OS_USER_MISSING', `OS user ${name} is root (uid 0); PostgreSQL must run unprivileged`, {
        hint: 'Pass --os-user with an unprivileged user.',
      });
    }
    return { uid, gid, name };
  } catch (error) {
    if (error instanceof JeexDbError) throw error;
    throw new JeexDbError(
      'OS_USER_MISSING',
      `running as root, and there is no OS user "${name}" to run PostgreSQL as (it refuses to run as root)`,
      {
        hint: `Create one (\`useradd --system --user-group --no-create-home ${name}\`), pass --os-user NAME, or run jeex-db as a normal user.`,
        cause: error,
      },
    );
  }
}
