import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JeexDbError, type ErrorCode } from './errors.ts';
import { packageManifest } from './package.ts';

/**
 * A package jeex-db loads only for some commands and does not install itself: an optional peer
 * dependency (package.json `peerDependencies` + `peerDependenciesMeta.optional`), which the
 * project that runs those commands installs as a dev dependency.
 */
export interface OptionalPackage {
  /** The npm name, e.g. `drizzle-kit`. */
  name: string;
  /** What needs it, finishing "… needs it", e.g. `comparing the schema with the migrations (jeex-db check)`. */
  neededFor: string;
  /** The error code to raise when it is missing. */
  code: ErrorCode;
  /** Another way out than installing it, as a sentence, e.g. `Or write the .down.sql file by hand.` */
  otherwise?: string;
  /** The directory to resolve from. Default: this package's, as Node would (tests: one without it). */
  from?: string;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** `drizzle-kit ^0.31.0`: the range of package.json's peerDependencies, when it names one. */
function wanted(name: string): string {
  const range = packageManifest().peerDependencies?.[name];
  return range ? `${name} ${range}` : name;
}

function missing(pkg: OptionalPackage, cause: unknown): JeexDbError {
  return new JeexDbError(pkg.code, `${pkg.name} is not installed, and ${pkg.neededFor} needs it`, {
    hint: `Install it in your project: \`npm install -D ${pkg.name}\` (jeex-db works with ${wanted(pkg.name)}; it is an optional peer dependency, so npm does not add it by itself).${pkg.otherwise ? ` ${pkg.otherwise}` : ''}`,
    context: { package: pkg.name },
    cause,
  });
}

/** The installed package lacks what we load from it: an older or newer major than we support. */
export function incompatiblePackage(pkg: OptionalPackage, what: string, cause?: unknown): JeexDbError {
  return new JeexDbError(pkg.code, `the installed ${pkg.name} does not provide ${what}, which ${pkg.neededFor} needs`, {
    hint: `Install a version jeex-db works with: \`npm install -D ${pkg.name}@"${packageManifest().peerDependencies?.[pkg.name] ?? 'latest'}"\`.${pkg.otherwise ? ` ${pkg.otherwise}` : ''}`,
    context: { package: pkg.name },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The file `specifier` (`drizzle-kit/api`, `squawk-cli/package.json`) resolves to, the way
 * `require.resolve` finds it from this package; a clear JeexDbError naming the package and the
 * `npm install -D` that brings it when it is not installed.
 *
 * @example
 * const manifest = resolveOptional('squawk-cli/package.json', { name: 'squawk-cli', neededFor: 'linting migrations', code: 'MIGRATION_LINT' });
 */
export function resolveOptional(specifier: string, pkg: OptionalPackage): string {
  try {
    return createRequire(join(pkg.from ?? HERE, 'noop.js')).resolve(specifier);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw incompatiblePackage(pkg, specifier, error);
    if (code === 'MODULE_NOT_FOUND') throw missing(pkg, error);
    throw error;
  }
}

/**
 * Import an optional peer dependency (see `resolveOptional` for the error when it is absent).
 *
 * @example
 * const api = await importOptional<typeof import('drizzle-kit/api')>('drizzle-kit/api', { name: 'drizzle-kit', neededFor: 'jeex-db check', code: 'INVALID_CONFIG' });
 */
export async function importOptional<T>(specifier: string, pkg: OptionalPackage): Promise<T> {
  const file = resolveOptional(specifier, pkg);
  try {
    // From this package Node's own ESM resolution (its `import` conditions); from elsewhere, the file found.
    return (await import(pkg.from === undefined ? specifier : pathToFileURL(file).href)) as T;
  } catch (error) {
    throw new JeexDbError(pkg.code, `${pkg.name} is installed but does not load (${file}): ${(error as Error).message.split('\n')[0]}`, {
      hint: `Reinstall it: \`npm install -D ${pkg.name}\` (jeex-db works with ${wanted(pkg.name)}).`,
      context: { package: pkg.name },
      cause: error,
    });
  }
}
