import { loadOrCreateSecrets } from '../../local/files.ts';
import { ensureLocalKeys } from '../../local/new-keys.ts';
import type { LocalSecrets } from '../../local/state.ts';
import { resolveRoleSettings, type RoleSettings } from '../../ops/roles/settings.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Preflight } from './preflight.ts';

export interface Secrets {
  secrets: LocalSecrets;
  /** The roles' idle timeouts and read auditing: flags, else the environment, else state.json, else the defaults. */
  roleSettings: RoleSettings;
}

/**
 * What the roles are made with: their passwords (secrets.json, created the first time; missing
 * roles of an older file added), the local encryption keys, and the role settings. Nothing to
 * undo: the passwords are the ones the cluster is (or will be) made with.
 */
export const secrets: UpStep<UpContext & Pick<Preflight, 'cluster' | 'previous'>, Secrets> = {
  name: 'secrets',
  async run({ options, layout, progress, notes, cluster, previous }) {
    const secrets = await loadOrCreateSecrets(layout, cluster === 'existing', (message) => notes.push(message));
    await ensureLocalKeys(layout, progress);
    const roleSettings = resolveRoleSettings(options.roleSettings, process.env, previous?.roleSettings);
    return { secrets, roleSettings };
  },
};
