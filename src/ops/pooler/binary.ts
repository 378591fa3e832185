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

/**
 * The PgBouncer binary from the OS package (`apt-get install pgbouncer`), or JEEX_PGBOUNCER_BIN.
 * Undefined when there is none: callers then connect straight to PostgreSQL and say so.
 */
export async function findPgbouncer(env: NodeJS.ProcessEnv = process.env): Promise<PgbouncerBinary | undefined> {
  const candidates = env.JEEX_PGBOUNCER_BIN
    ? [env.JEEX_PGBOUNCER_BIN]
    : [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'].map((dir) => join(dir, 'pgbouncer'));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
    } catch {
      continue;
    }
    const probe = await exec(path, ['--version']);
    const match = /PgBouncer\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(probe.stdout + probe.stderr);
    if (probe.code === 0 && match) {
      return { path, version: `${match[1]}.${match[2]}.${match[3] ?? '0'}`, major: Number(match[1]), minor: Number(match[2]) };
    }
  }
  return undefined;
}
