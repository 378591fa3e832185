import { pathToFileURL } from 'node:url';
import { JeexDbError } from '../core/errors.ts';

/**
 * Import a TypeScript module (drizzle.config.ts, a schema file) under plain Node, through tsx as
 * drizzle-kit does. tsx is loaded lazily: only commands that read such a file need it.
 */
export async function importTypeScript(file: string, what: string): Promise<unknown> {
  let tsImport: (specifier: string, parent: string) => Promise<unknown>;
  try {
    ({ tsImport } = (await import('tsx/esm/api')) as { tsImport: typeof tsImport });
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `${file} (${what}) is TypeScript, and tsx, which loads it, is not installed`, {
      hint: 'Install tsx (`npm install -D tsx`), or pass the options that replace the file (--url, --migrations-dir, --schema).',
      cause: error,
    });
  }
  try {
    return await tsImport(pathToFileURL(file).href, import.meta.url);
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `cannot load ${what} ${file}: ${(error as Error).message}`, {
      hint: 'Fix the file so it loads, then run again.',
      cause: error,
    });
  }
}
