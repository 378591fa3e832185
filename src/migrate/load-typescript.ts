import { pathToFileURL } from 'node:url';
import { JeexDbError } from '../core/errors.ts';
import { loadTsImport } from './peers.ts';

/**
 * Import a TypeScript module (drizzle.config.ts, a schema file) under plain Node, through tsx as
 * drizzle-kit does. tsx is an optional peer dependency, loaded lazily: only commands that read
 * such a file need it.
 */
export async function importTypeScript(file: string, what: string): Promise<unknown> {
  const tsImport = await loadTsImport(`loading ${what} ${file} (TypeScript)`, {
    otherwise: 'Or pass the options that replace the file (--url, --migrations-dir, --schema).',
  });
  try {
    return await tsImport(pathToFileURL(file).href, import.meta.url);
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `cannot load ${what} ${file}: ${(error as Error).message}`, {
      hint: 'Fix the file so it loads, then run again.',
      cause: error,
    });
  }
}
