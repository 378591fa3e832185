import { randomBytes } from 'node:crypto';
import { chmod, rename, writeFile } from 'node:fs/promises';
import { JeexDbError } from '../db/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import { readLocalSecrets, type LocalSecrets, type LocalState } from '../local/state.ts';
import { POOLER_ADMIN_USER } from '../pooler/local.ts';

export const LOCAL_ROLES = { superuser: 'postgres', migrator: 'jeex_migrator', app: 'jeex_app' } as const;
export const LOCAL_DATABASE = 'jeex';

/** 32 random bytes, URL-safe: no quoting problems in URLs or connection strings. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode });
  await chmod(temp, mode);
  await rename(temp, file);
}

/**
 * The local cluster's passwords: generated on first run, then read back. The file is readable
 * by its owner only. A cluster whose secrets were lost cannot be logged into, so that is an error.
 */
export async function loadOrCreateSecrets(layout: LocalLayout, clusterExists: boolean): Promise<LocalSecrets> {
  const existing = readLocalSecrets(layout);
  if (existing) {
    await chmod(layout.secretsFile, 0o600);
    if (existing.pooler) return existing;
    // Made before PgBouncer was part of `up`: add its console password.
    const upgraded: LocalSecrets = { ...existing, pooler: { user: POOLER_ADMIN_USER, password: generatePassword() } };
    await writeAtomic(layout.secretsFile, `${JSON.stringify(upgraded, null, 2)}\n`, 0o600);
    return upgraded;
  }
  if (clusterExists) {
    throw new JeexDbError('DATA_DIR_NOT_WRITABLE', `${layout.secretsFile} is missing, but ${layout.pgdata} holds a cluster`, {
      hint: `Restore secrets.json, or move ${layout.root} aside and run \`jeex-db up\` again for a fresh cluster.`,
    });
  }
  const secrets: LocalSecrets = {
    version: 1,
    superuser: { user: LOCAL_ROLES.superuser, password: generatePassword() },
    migrator: { user: LOCAL_ROLES.migrator, password: generatePassword() },
    app: { user: LOCAL_ROLES.app, password: generatePassword() },
    pooler: { user: POOLER_ADMIN_USER, password: generatePassword() },
  };
  await writeAtomic(layout.secretsFile, `${JSON.stringify(secrets, null, 2)}\n`, 0o600);
  return secrets;
}

export async function writeLocalState(layout: LocalLayout, state: LocalState): Promise<void> {
  await writeAtomic(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}
