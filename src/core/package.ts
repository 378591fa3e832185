import { readFileSync } from 'node:fs';

/** The parts of this package's package.json that the code reads. */
export interface PackageManifest {
  version?: string;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

let cached: PackageManifest | undefined;

/**
 * This package's package.json (empty when it cannot be read). src/core and dist/core both sit
 * two folders below the package root.
 */
export function packageManifest(): PackageManifest {
  if (cached === undefined) {
    try {
      cached = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageManifest;
    } catch {
      cached = {};
    }
  }
  return cached;
}

/** This package's version from its package.json (`unknown` when it cannot be read). */
export function packageVersion(): string {
  return packageManifest().version ?? 'unknown';
}
