import { chown, readFile, rm, stat } from 'node:fs/promises';
import { JeexDbError } from '../../core/errors.ts';
import { renameDurable, writeNewFileDurable } from '../../platform/durable-fs.ts';
import { logOffset, readLogSince } from '../../platform/log-file.ts';
import { sleep } from '../../core/sleep.ts';
import { withPoolerLock } from './lock.ts';
import { poolerFiles, reloadPooler } from './process.ts';

export interface RepointResult {
  /** Where `[databases]` pointed before. */
  from: { host: string; port: number } | undefined;
  to: { host: string; port: number };
  /** `reloaded`: a running PgBouncer took the new server; `written`: none runs, its next start will. */
  status: 'reloaded' | 'written' | 'unchanged';
}

const SERVER_LINE = /^\* = host=(\S+) port=(\d+)$/m;

/**
 * Point a local PgBouncer (`dir`: its pgbouncer.ini, as `up` writes it) at another server:
 * `[databases]` rewritten, then RELOAD (SIGHUP), waiting until its log shows it re-read the file.
 * PgBouncer closes its connections to the old server as they are released and opens new ones to
 * the new server; clients stay connected. PgBouncer 1.18's own host lists are no substitute: it
 * takes them in turn and keeps trying a dead host.
 *
 * @example
 * await repointPooler('.jeex-db/pgbouncer', { host: '127.0.0.1', port: 5419 });
 */
export async function repointPooler(dir: string, to: { host: string; port: number }, timeoutMs = 10_000): Promise<RepointResult> {
  const files = poolerFiles(dir);
  return withPoolerLock(dir, async () => {
    const text = await readFile(files.ini, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new JeexDbError('POOLER_START_FAILED', `cannot read ${files.ini}: ${error.code ?? error.message}`, {
        hint: 'Is there a PgBouncer of jeex-db in that directory? `jeex-db up` writes it.',
        cause: error,
      });
    });
    const match = SERVER_LINE.exec(text);
    if (!match) {
      throw new JeexDbError('POOLER_START_FAILED', `${files.ini} has no "* = host=... port=..." line to repoint`, {
        hint: 'It was not written by jeex-db (or was edited): set the [databases] line by hand and RELOAD.',
      });
    }
    const from = { host: match[1] ?? '', port: Number(match[2]) };
    if (from.host === to.host && from.port === to.port) return { from, to, status: 'unchanged' };
    const temp = `${files.ini}.repoint`;
    await rm(temp, { force: true });
    await writeNewFileDurable(temp, text.replace(SERVER_LINE, `* = host=${to.host} port=${to.port}`), 0o600);
    // PgBouncer runs as the server's OS user and reads the file as that user.
    const owner = await stat(files.ini);
    await chown(temp, owner.uid, owner.gid);
    await renameDurable(temp, files.ini);
    const offset = await logOffset(files.logfile);
    if (!(await reloadPooler(files))) return { from, to, status: 'written' };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const log = await readLogSince(files.logfile, offset);
      if (log.some((line) => /SIGHUP|re-reading|RELOAD/i.test(line))) return { from, to, status: 'reloaded' };
      await sleep(50);
    }
    throw new JeexDbError('POOLER_START_FAILED', `PgBouncer in ${dir} did not reload its configuration within ${timeoutMs / 1000} s`, {
      hint: `Read ${files.logfile}; the file points at ${to.host}:${to.port} already, a restart of PgBouncer applies it.`,
    });
  });
}
