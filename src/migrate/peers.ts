// Types only (erased): drizzle-kit is an optional peer dependency, loaded where it is used.
import type * as DrizzleKit from 'drizzle-kit/api';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { importOptional, incompatiblePackage, resolveOptional, type OptionalPackage } from '../core/optional-package.ts';

/**
 * The three tools of the migration workflow that jeex-db does not install: optional peer
 * dependencies (package.json), which a project that runs these commands has as dev dependencies.
 * Each loader takes `from`, the directory to resolve from (default: this package's, as Node would).
 */

/** drizzle-kit's API: `jeex-db check` (schema drift) and `generate-down` (drafts). */
export async function loadDrizzleKit(neededFor: string, options: { otherwise?: string; from?: string } = {}): Promise<typeof DrizzleKit> {
  const pkg: OptionalPackage = { name: 'drizzle-kit', neededFor, code: 'INVALID_CONFIG', ...options };
  const api = await importOptional<typeof DrizzleKit>('drizzle-kit/api', pkg);
  for (const fn of ['generateDrizzleJson', 'generateMigration'] as const) {
    if (typeof api[fn] !== 'function') throw incompatiblePackage(pkg, `${fn} in drizzle-kit/api`);
  }
  return api;
}

/** The file of drizzle-kit's API, for a worker thread to `require`. */
export function drizzleKitApiFile(neededFor: string, from?: string): string {
  return resolveOptional('drizzle-kit/api', { name: 'drizzle-kit', neededFor, code: 'INVALID_CONFIG', ...(from === undefined ? {} : { from }) });
}

export type TsImport = (specifier: string, parent: string) => Promise<unknown>;

/** tsx's `tsImport`: loading drizzle.config.ts or a schema file written in TypeScript. */
export async function loadTsImport(neededFor: string, options: { otherwise?: string; from?: string } = {}): Promise<TsImport> {
  const pkg: OptionalPackage = { name: 'tsx', neededFor, code: 'INVALID_CONFIG', ...options };
  const api = await importOptional<{ tsImport?: TsImport }>('tsx/esm/api', pkg);
  if (typeof api.tsImport !== 'function') throw incompatiblePackage(pkg, 'tsImport in tsx/esm/api');
  return api.tsImport;
}

/** squawk-cli's launcher (its bin, a Node script that starts the platform's native binary). */
export function squawkLauncher(from?: string): string {
  const pkg: OptionalPackage = {
    name: 'squawk-cli',
    neededFor: 'linting the migrations (jeex-db check, plan)',
    code: 'MIGRATION_LINT',
    otherwise: 'Nothing was linted; `jeex-db plan --no-lint` plans without it.',
    ...(from === undefined ? {} : { from }),
  };
  const manifestPath = resolveOptional('squawk-cli/package.json', pkg);
  const manifest = createRequire(manifestPath)(manifestPath) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.squawk;
  if (!bin) throw incompatiblePackage(pkg, `a squawk binary (${manifestPath} names none)`);
  return resolve(dirname(manifestPath), bin);
}
