import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { exec } from '../../platform/exec.ts';

export interface PgbouncerBinary {
  path: string;
  /** e.g. `1.18.0` */
  version: string;
  major: number;
  minor: number;
}

/** 1.21 added prepared statements in transaction mode (`max_prepared_statements`). */
export function supportsPreparedStatements(binary: Pick<PgbouncerBinary, 'major' | 'minor'>): boolean {
  return binary.major > 1 || (binary.major === 1 && binary.minor >= 21);
}

/** Where the OS packages put pgbouncer, looked at after PATH (Debian's is /usr/sbin, often not in a user's PATH; Homebrew's /opt/homebrew/bin). */
export const PGBOUNCER_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin', '/opt/homebrew/bin'];

/** How to get PgBouncer: it is an OS package, not an npm one. */
export const PGBOUNCER_INSTALL = [
  { os: 'Debian/Ubuntu', command: 'sudo apt-get install -y pgbouncer' },
  { os: 'macOS', command: 'brew install pgbouncer' },
] as const;

export interface PgbouncerSearch {
  binary?: PgbouncerBinary;
  /** JEEX_PGBOUNCER_BIN, when set: then it is the only place looked at. */
  fromEnv?: string;
  /** Files found that are not a working PgBouncer, and why (not executable, `--version` failed). */
  rejected: { path: string; reason: string }[];
}

/**
 * Look for the PgBouncer binary: JEEX_PGBOUNCER_BIN when set, else `pgbouncer` in PATH, then in
 * PGBOUNCER_DIRS. Says what it found unusable, for the message of `pgbouncerAbsent`.
 *
 * @example
 * const search = await searchPgbouncer();
 * if (!search.binary) console.error(pgbouncerAbsent(search).reason);
 */
export async function searchPgbouncer(env: NodeJS.ProcessEnv = process.env): Promise<PgbouncerSearch> {
  const fromEnv = env.JEEX_PGBOUNCER_BIN || undefined;
  const candidates = fromEnv ? [fromEnv] : [...new Set([...(env.PATH ?? '').split(delimiter).filter(Boolean), ...PGBOUNCER_DIRS].map((dir) => join(dir, 'pgbouncer')))];
  const rejected: PgbouncerSearch['rejected'] = [];
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Not there is the usual case along PATH; JEEX_PGBOUNCER_BIN names a file that should be.
      if (fromEnv || code !== 'ENOENT') rejected.push({ path, reason: code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not executable' : (code ?? 'cannot be read') });
      continue;
    }
    const probe = await exec(path, ['--version'], { timeoutMs: 10_000 }).catch((error: NodeJS.ErrnoException) => ({ code: null, signal: null, stdout: '', stderr: error.code ?? error.message }));
    const match = /PgBouncer\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(probe.stdout + probe.stderr);
    if (probe.code === 0 && match) {
      return { binary: { path, version: `${match[1]}.${match[2]}.${match[3] ?? '0'}`, major: Number(match[1]), minor: Number(match[2]) }, ...(fromEnv ? { fromEnv } : {}), rejected };
    }
    const said = (probe.stderr || probe.stdout).trim().split('\n')[0] ?? '';
    rejected.push({ path, reason: `\`${path} --version\` ${probe.code === 0 ? 'did not print a PgBouncer version' : probe.code === null ? 'failed' : `exited with ${probe.code}`}${said ? `: ${said.slice(0, 200)}` : ''}` });
  }
  return { ...(fromEnv ? { fromEnv } : {}), rejected };
}

/**
 * The PgBouncer binary from the OS package (`apt-get install pgbouncer`), or JEEX_PGBOUNCER_BIN.
 * Undefined when there is none: callers then connect straight to PostgreSQL and say so.
 */
export async function findPgbouncer(env: NodeJS.ProcessEnv = process.env): Promise<PgbouncerBinary | undefined> {
  return (await searchPgbouncer(env)).binary;
}

/**
 * What is missing when a search found no PgBouncer (`reason`), and how to get it (`hint`): the OS
 * package, or `--no-pooler` to go without.
 */
export function pgbouncerAbsent(search: Pick<PgbouncerSearch, 'fromEnv' | 'rejected'>): { reason: string; hint: string } {
  const consequence = 'the app URL points straight at PostgreSQL, without connection pooling';
  const install = `install PgBouncer, an OS package (${PGBOUNCER_INSTALL.map((way) => `\`${way.command}\` on ${way.os}`).join(', ')}), then run \`jeex-db up\` again; or go without it: \`jeex-db up --no-pooler\`.`;
  const why = search.rejected.map((file) => (search.fromEnv ? file.reason : `${file.path}: ${file.reason}`)).join('; ');
  if (search.fromEnv) {
    return {
      reason: `JEEX_PGBOUNCER_BIN=${search.fromEnv} is not a working pgbouncer (${why || 'unusable'}): ${consequence}`,
      hint: `Point JEEX_PGBOUNCER_BIN at the pgbouncer binary, or unset it to look in PATH; to ${install}`,
    };
  }
  const where = `PATH, ${PGBOUNCER_DIRS.join(', ')}`;
  return {
    reason: why ? `no working pgbouncer in ${where} (${why}): ${consequence}` : `PgBouncer is not installed (no pgbouncer in ${where}): ${consequence}`,
    hint: `To pool connections, ${install}`,
  };
}
