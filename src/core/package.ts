import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * This package's version from its package.json (`unknown` when it cannot be read). src/core and
 * dist/core both sit two folders below the package root.
 */
export function packageVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
