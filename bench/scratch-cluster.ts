import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down, up } from '../src/stack/up.ts';
import type { UpOptions, UpResult } from '../src/stack/up-types.ts';

export interface ScratchCluster {
  /** The temporary directory (the cluster is in `dataDir`, inside it). */
  dir: string;
  dataDir: string;
  /** `up` on `dataDir`: from here on the cluster is stopped again on the way out. */
  start: (options?: Omit<UpOptions, 'dataDir'>) => Promise<UpResult>;
}

/**
 * Run `fn` with a fresh cluster in a temporary directory, then stop it and remove the directory,
 * also on failure or Ctrl-C (exit 130).
 */
export async function withScratchCluster<T>(prefix: string, log: (line: string) => void, fn: (cluster: ScratchCluster) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // As root the server runs as `postgres`, which must be able to enter the directory.
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'cluster');
  let started = false;
  const cleanup = async () => {
    if (started) await down({ dataDir }).catch((error: unknown) => log(`  down failed: ${String(error)}`));
    await rm(dir, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn({
      dir,
      dataDir,
      start: (options = {}) => {
        started = true;
        return up({ ...options, dataDir });
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** `url` with its database replaced. */
export function inDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
