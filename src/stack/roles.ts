import { connect } from '../db/connect.ts';
import { bootstrapDatabase, secretLogins } from './bootstrap.ts';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import { localLayout } from '../local/layout.ts';
import { localUrl, readLocalState } from '../local/state.ts';
import { refreshPoolerAuth } from '../ops/pooler/refresh-auth.ts';
import { LOCAL_ROLES, loadOrCreateSecrets, writeLocalState } from '../local/files.ts';
import { serverOsUser } from '../platform/os-user.ts';
import type { ApplyRolesResult } from '../ops/roles/apply.ts';
import { POOLED } from '../ops/roles/rotate.ts';
import { resolveRoleSettings, type RoleSettingsFlags } from '../ops/roles/settings.ts';

/**
 * `roles apply` on the local cluster of a data directory (which must be running): the roles
 * with the passwords in secrets.json (adding passwords for roles an older secrets.json lacks),
 * the settings from `flags`, the environment or the last run, remembered in state.json. When it
 * sets the password of a pooled role (app, readonly) back, e.g. after the role changed it itself,
 * the local PgBouncer's auth file is rewritten and reloaded too.
 *
 * @example
 * const { changes } = await applyLocalRoles({ dataDir: '.jeex-db', flags: { idleTimeout: '10min' } });
 */
export async function applyLocalRoles(options: { dataDir?: string; cwd?: string; flags?: RoleSettingsFlags; env?: NodeJS.ProcessEnv; osUser?: string }): Promise<ApplyRolesResult> {
  const layout = localLayout(options.dataDir, options.cwd);
  const state = readLocalState(layout);
  if (!state) {
    throw new JeexDbError('CONNECTION_FAILED', `no local cluster in ${layout.root}`, { hint: 'Start one with `jeex-db up` (it applies the roles too), pass --data-dir DIR, or pass --url for another server.' });
  }
  const settings = resolveRoleSettings(options.flags, options.env ?? process.env, state.roleSettings);
  const secrets = await loadOrCreateSecrets(layout, true);
  const url = (database: string) => localUrl(layout, 'superuser', { database }) ?? '';
  const admin = connect(url('postgres'), { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db roles apply' } });
  try {
    const result = await bootstrapDatabase(admin, (database) => connect(url(database), { max: 1, onnotice: () => {} }), {
      database: state.database,
      ...secretLogins(secrets),
      owner: LOCAL_ROLES.owner,
      settings,
    });
    // A pooled role whose password was set (back) needs PgBouncer's auth file to follow: it logs
    // in to PostgreSQL with the SCRAM keys of the verifier in that file, salt included.
    const pooledUsers = POOLED.flatMap((role) => (secrets[role] ? [secrets[role].user] : []));
    const passwordSet = result.changes.some((c) => c.change.startsWith('password ') && pooledUsers.some((user) => c.object === `role ${user}`));
    if (passwordSet && state.pooler && secrets.pooler) {
      const refreshed = await refreshPoolerAuth({
        dir: layout.pgbouncerDir,
        as: await serverOsUser(options.osUser),
        admin,
        roles: pooledUsers,
        console: secrets.pooler,
        listen: { host: state.host, port: state.pooler.port },
        ...(state.tls ? { tls: state.tls } : {}),
      });
      result.changes.push({ object: 'PgBouncer', change: refreshed.reloaded ? 'auth file rewritten and reloaded (a pooled role\'s password was set)' : 'auth file rewritten for its next start (a pooled role\'s password was set)' });
    }
    await writeLocalState(layout, {
      ...state,
      roles: { ...state.roles, ...LOCAL_ROLES },
      roleSettings: { idleSessionTimeoutMs: settings.idleSessionTimeoutMs, idleInTransactionTimeoutMs: settings.idleInTransactionTimeoutMs, auditReads: settings.auditReads },
    });
    return result;
  } catch (error) {
    throw error instanceof JeexDbError ? error : translateDbError(error);
  } finally {
    await admin.end({ timeout: 2 });
  }
}
