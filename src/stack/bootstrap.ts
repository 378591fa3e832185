import type { Sql } from 'postgres';
import { applyRoles, type ApplyRolesResult } from '../ops/roles/apply.ts';
import type { LocalSecrets } from '../local/state.ts';
import { LOGIN_KINDS, roleNames, type LoginKind, type RoleSet } from '../ops/roles/names.ts';
import type { RoleSettings } from '../ops/roles/settings.ts';

type Login = { user: string; password: string };

/** The login roles' names and passwords as a local cluster's secrets.json has them (a role without an entry is left out). */
export function secretLogins(secrets: LocalSecrets): Pick<BootstrapOptions, LoginKind> {
  const optional = (['readonly', 'backup', 'monitor', 'replicator'] as const).flatMap((kind) => (secrets[kind] ? [[kind, secrets[kind]] as const] : []));
  return { migrator: secrets.migrator, app: secrets.app, ...Object.fromEntries(optional) };
}

export interface BootstrapOptions {
  database: string;
  migrator: Login;
  app: Login;
  /** The NOLOGIN owner role. Default: the migrator's prefix + `_owner` (`jeex_migrator` -> `jeex_owner`). */
  owner?: string;
  readonly?: Login;
  backup?: Login;
  monitor?: Login;
  replicator?: Login;
  settings?: Partial<RoleSettings>;
}

/** The seven role names: those given, the others from the migrator's prefix. */
export function bootstrapRoles(options: BootstrapOptions): RoleSet {
  const prefix = options.migrator.user.endsWith('_migrator') ? options.migrator.user.slice(0, -'_migrator'.length) : options.migrator.user;
  const names = roleNames(prefix);
  return {
    ...names,
    ...(options.owner ? { owner: options.owner } : {}),
    migrator: options.migrator.user,
    app: options.app.user,
    ...(options.readonly ? { readonly: options.readonly.user } : {}),
    ...(options.backup ? { backup: options.backup.user } : {}),
    ...(options.monitor ? { monitor: options.monitor.user } : {}),
    ...(options.replicator ? { replicator: options.replicator.user } : {}),
  };
}

/**
 * Create (or bring back in line) the application's roles and database: `roles apply` with
 * the passwords given (src/ops/roles/apply.ts). Idempotent: `up` runs it on every start.
 *
 * `admin` must be a superuser connection to any database of the cluster; `connectTo(db)` opens
 * a superuser connection to another database (for per-database grants).
 */
export async function bootstrapDatabase(admin: Sql, connectTo: (database: string) => Sql, options: BootstrapOptions): Promise<ApplyRolesResult> {
  const passwords: Partial<Record<LoginKind, string>> = {};
  for (const kind of LOGIN_KINDS) {
    const login = options[kind];
    if (login) passwords[kind] = login.password;
  }
  return applyRoles(admin, connectTo, {
    database: options.database,
    roles: bootstrapRoles(options),
    passwords,
    ...(options.settings ? { settings: options.settings } : {}),
  });
}
