import { connect } from '../db/connect.ts';
import { bootstrapDatabase } from '../db/bootstrap.ts';
import { JeexDbError } from '../db/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import { localLayout } from '../local/layout.ts';
import { localUrl, readLocalState } from '../local/state.ts';
import { LOCAL_ROLES, loadOrCreateSecrets, writeLocalState } from '../server/local-files.ts';
import type { ApplyRolesResult } from './apply.ts';
import { resolveRoleSettings, type RoleSettingsFlags } from './settings.ts';

/**
 * `roles apply` on the local cluster of a data directory (which must be running): the roles
 * with the passwords in secrets.json (adding passwords for roles an older secrets.json lacks),
 * the settings from `flags`, the environment or the last run, remembered in state.json.
 *
 * @example
 * const { changes } = await applyLocalRoles({ dataDir: '.jeex-db', flags: { idleTimeout: '10min' } });
 */
export async function applyLocalRoles(options: { dataDir?: string; cwd?: string; flags?: RoleSettingsFlags; env?: NodeJS.ProcessEnv }): Promise<ApplyRolesResult> {
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
      owner: LOCAL_ROLES.owner,
      migrator: secrets.migrator,
      app: secrets.app,
      ...(secrets.readonly ? { readonly: secrets.readonly } : {}),
      ...(secrets.backup ? { backup: secrets.backup } : {}),
      ...(secrets.monitor ? { monitor: secrets.monitor } : {}),
      settings,
    });
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
