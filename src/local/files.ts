import { chmod, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from './layout.ts';
import { readLocalState, readStoredSecrets, type LocalSecrets, type LocalState } from './state.ts';
import { generatePassword } from '../crypto/password-policy.ts';

/** The admin console user of a local PgBouncer (not a PostgreSQL role). */
export const POOLER_ADMIN_USER = 'jeex_pgbouncer';

export const LOCAL_ROLES = {
  superuser: 'postgres',
  owner: 'jeex_owner',
  migrator: 'jeex_migrator',
  app: 'jeex_app',
  readonly: 'jeex_readonly',
  backup: 'jeex_backup',
  monitor: 'jeex_monitor',
  replicator: 'jeex_replicator',
} as const;
export const LOCAL_DATABASE = 'jeex';

export { generatePassword };

/**
 * The roles whose passwords `up` can replace: roles apply sets each one's verifier from
 * secrets.json, so a missing entry (an older file, or a damaged entry the user deleted) gets a
 * new password. Only the superuser's is irreplaceable: `up` logs in with it.
 */
const REPLACEABLE_ROLES = ['migrator', 'app', 'readonly', 'backup', 'monitor', 'replicator'] as const;
/** Added after the first secrets.json format: filled in silently. */
const ADDED_ROLES: readonly string[] = ['readonly', 'backup', 'monitor', 'replicator'];

/**
 * Write a file through a temporary one, fsynced, and a rename, then fsync the directory: a reader
 * sees the old file or the new one, never half of one, and a power cut after the rename cannot
 * leave an empty secrets.json (the superuser's password is in no other place).
 */
export async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * The local cluster's passwords: generated on first run, then read back. The file is readable
 * by its owner only. A cluster whose secrets were lost cannot be logged into, so that is an error.
 */
export async function loadOrCreateSecrets(layout: LocalLayout, clusterExists: boolean, onReplaced: (message: string) => void = () => {}): Promise<LocalSecrets> {
  const existing = readStoredSecrets(layout);
  if (existing) {
    await chmod(layout.secretsFile, 0o600);
    if (existing.pooler && REPLACEABLE_ROLES.every((role) => existing[role])) return existing as LocalSecrets;
    // Made before PgBouncer, or the read-only, backup and monitor roles, were part of `up`, or an
    // entry was removed: add the passwords (the roles get them from `roles apply`, which `up` runs next).
    const upgraded = { ...existing, pooler: existing.pooler ?? { user: POOLER_ADMIN_USER, password: generatePassword() } } as LocalSecrets;
    for (const role of REPLACEABLE_ROLES) {
      if (upgraded[role]) continue;
      upgraded[role] = { user: LOCAL_ROLES[role], password: generatePassword() };
      if (!ADDED_ROLES.includes(role)) onReplaced(`${layout.secretsFile} had no password for ${LOCAL_ROLES[role]}: a new one is set (clients with the old one must take the new URL)`);
    }
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
    replicator: { user: LOCAL_ROLES.replicator, password: generatePassword() },
    pooler: { user: POOLER_ADMIN_USER, password: generatePassword() },
  };
  await writeAtomic(layout.secretsFile, `${JSON.stringify(secrets, null, 2)}\n`, 0o600);
  return secrets;
}

export async function writeLocalState(layout: LocalLayout, state: LocalState): Promise<void> {
  await writeAtomic(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/**
 * state.json for `up`: undefined when there is none, and when it is damaged too (it holds no
 * secrets, and `up` writes it again): the damaged copy is moved to state.json.damaged and
 * `onDamaged` says so.
 */
export async function readOrSetAsideState(layout: LocalLayout, onDamaged: (message: string) => void): Promise<LocalState | undefined> {
  try {
    return readLocalState(layout);
  } catch (error) {
    if (!(error instanceof JeexDbError) || error.code !== 'LOCAL_STATE_DAMAGED') throw error;
    const aside = `${layout.stateFile}.damaged`;
    await rename(layout.stateFile, aside);
    onDamaged(`${error.message}; moved it to ${aside} and writing a new one (role settings from flags, the environment or the defaults: give --idle-timeout etc. again if you had changed them)`);
    return undefined;
  }
}
