import { chmod, chown, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunAs } from '../../platform/exec.ts';

/** The TLS files of a data directory (`<data dir>/tls/`). */
export interface TlsFiles {
  dir: string;
  /** The development CA's certificate: what clients trust (`sslrootcert`). */
  caCert: string;
  /** The development CA's key (0600, ours): it signs the server certificates. */
  caKey: string;
  serverCert: string;
  /** 0600, owned by the server's OS user: PostgreSQL refuses a key others can read. */
  serverKey: string;
}

export function tlsFiles(dataDir: string): TlsFiles {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
  };
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Write a file whole or not at all (a temporary file renamed into place), with its mode from the
 * start, and give it to `owner` (the server's OS user) when one is named.
 */
export async function writeFileAtomic(file: string, text: string, mode: number, owner?: RunAs): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, text, { mode });
    await chmod(temp, mode);
    if (owner) await chown(temp, owner.uid, owner.gid);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
