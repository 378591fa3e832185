import { chmod, rename, writeFile } from 'node:fs/promises';
import { JeexDbError } from '../db/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import { readLocalSecrets, type LocalSecrets, type LocalState } from '../local/state.ts';
import { POOLER_ADMIN_USER } from '../pooler/local.ts';
import { generatePassword } from '../roles/password-policy.ts';

export const LOCAL_ROLES = {
  superuser: 'postgres',
  owner: 'jeex_owner',
  migrator: 'jeex_migrator',
  app: 'jeex_app',
  readonly: 'jeex_readonly',
  backup: 'jeex_backup',
  monitor: 'jeex_monitor',
} as const;
export const LOCAL_DATABASE = 'jeex';

export { generatePassword };

/** Login roles added after the first secrets.json format; `up` adds their passwords to older files. */
const ADDED_ROLES = ['readonly', 'backup', 'monitor'] as const;

/** Write a file through a temporary one and a rename: a reader sees the old file or the new one, never half of one. */
export async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
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
    if (existing.pooler && ADDED_ROLES.every((role) => existing[role])) return existing;
    // Made before PgBouncer, or the read-only, backup and monitor roles, were part of `up`: add
    // their passwords (the roles are created with them by `roles apply`, which `up` runs next).
    const upgraded: LocalSecrets = { ...existing, pooler: existing.pooler ?? { user: POOLER_ADMIN_USER, password: generatePassword() } };
    for (const role of ADDED_ROLES) upgraded[role] ??= { user: LOCAL_ROLES[role], password: generatePassword() };
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
    readonly: { user: LOCAL_ROLES.readonly, password: generatePassword() },
    backup: { user: LOCAL_ROLES.backup, password: generatePassword() },
    monitor: { user: LOCAL_ROLES.monitor, password: generatePassword() },
    pooler: { user: POOLER_ADMIN_USER, password: generatePassword() },
  };
  await writeAtomic(layout.secretsFile, `${JSON.stringify(secrets, null, 2)}\n`, 0o600);
  return secrets;
}

export async function writeLocalState(layout: LocalLayout, state: LocalState): Promise<void> {
  await writeAtomic(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}
