import { rename, rm } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../db/connect.ts';
import { JeexDbError } from '../../core/errors.ts';
import { scramVerifier } from '../../db/scram.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { localLayout } from '../../local/layout.ts';
import { localUrl, readLocalSecrets, readLocalState, type LocalRole, type LocalSecrets } from '../../local/state.ts';
import { refreshPoolerAuth } from '../pooler/refresh-auth.ts';
import { writeAtomic } from '../../local/files.ts';
import { serverOsUser } from '../../platform/os-user.ts';
import { runQuietly } from './cluster-roles.ts';
import { ident, literal } from './names.ts';
import type { PasswordInput } from './password-input.ts';
import { generatePassword } from '../../crypto/password-policy.ts';
import { recordVerifier } from './role-record.ts';

/**
 * Set a login role's password: only its SCRAM-SHA-256 verifier reaches the server, and (as a
 * superuser) with statement logging off for that statement. Sessions already open stay open;
 * new logins need the new password. `admin` must be a superuser or hold CREATEROLE.
 *
 * @example
 * await setRolePassword(admin, 'jeex_app', newPassword);
 */
export async function setRolePassword(admin: Sql, role: string, password: string): Promise<void> {
  const [row] = await admin<{ login: boolean; superuser: boolean }[]>`
    SELECT r.rolcanlogin AS login, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser FROM pg_roles r WHERE r.rolname = ${role}`;
  if (!row) throw new JeexDbError('INVALID_CONFIG', `there is no role ${role} on this server`, { hint: 'Create the roles with `jeex-db roles apply` first, or check the role name.' });
  if (!row.login) throw new JeexDbError('INVALID_CONFIG', `role ${role} cannot log in, so it has no password to rotate`, { hint: 'Rotate a login role (the migrator, app, readonly, backup or monitor role).' });
  const verifier = scramVerifier(password);
  await runQuietly(admin, `ALTER ROLE ${ident(role)} PASSWORD ${literal(verifier)}`, row.superuser);
  // The health check compares the verifier with the record `roles apply` keeps: a rotation is ours.
  await recordVerifier(admin, role, verifier);
}

/** The local roles whose logins go through PgBouncer (see `up`). */
export const POOLED: readonly LocalRole[] = ['app', 'readonly'];

export interface RotateResult {
  /** Which local role (`app`, ...) and its PostgreSQL name. */
  role: LocalRole;
  user: string;
  /** A random password was generated (none was given). */
  generated: boolean;
  /** Where a given password came from (never the password). */
  source?: string;
  secretsFile: string;
  /** `reloaded`: the local PgBouncer has the new verifier; `not-running`: its file was updated for its next start; `not-pooled`: the role does not log in through it. */
  pooler: 'reloaded' | 'not-running' | 'not-pooled' | 'none';
  durationMs: number;
}

/**
 * Rotate a password of the local cluster: a new random one (or `password`, already checked
 * against the policy), set on the server as a SCRAM verifier, secrets.json replaced atomically
 * (written first as secrets.json.new, renamed once the server has it: an interruption in between
 * leaves the new password there), and the local PgBouncer's auth file refreshed and reloaded.
 *
 * @example
 * const result = await rotateLocalPassword({ role: 'app' }); // result.pooler === 'reloaded'
 */
export async function rotateLocalPassword(options: { role: LocalRole; password?: PasswordInput; dataDir?: string; cwd?: string; osUser?: string }): Promise<RotateResult> {
  const started = Date.now();
  const layout = localLayout(options.dataDir, options.cwd);
  const state = readLocalState(layout);
  const secrets = readLocalSecrets(layout);
  const adminUrl = localUrl(layout, 'superuser');
  if (!state || !secrets || !adminUrl) {
    throw new JeexDbError('CONNECTION_FAILED', `no local cluster in ${layout.root}`, { hint: 'Start one with `jeex-db up`, pass --data-dir DIR, or pass --url for another server.' });
  }
  const current = secrets[options.role];
  if (!current) {
    throw new JeexDbError('INVALID_CONFIG', `${layout.secretsFile} has no ${options.role} role yet`, { hint: 'Run `jeex-db up` once: it creates the role and its password.' });
  }
  const password = options.password?.password ?? generatePassword();
  const next: LocalSecrets = { ...secrets, [options.role]: { user: current.user, password } };
  const pending = `${layout.secretsFile}.new`;
  const admin = connect(adminUrl, { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db roles rotate' } });
  let pooler: RotateResult['pooler'] = 'none';
  try {
    try {
      await admin`SELECT 1`;
    } catch (error) {
      throw translateDbError(error);
    }
    await writeAtomic(pending, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    try {
      await setRolePassword(admin, current.user, password);
    } catch (error) {
      await rm(pending, { force: true });
      throw error instanceof JeexDbError ? error : translateDbError(error);
    }
    await rename(pending, layout.secretsFile);
    if (state.pooler && next.pooler) {
      if (!POOLED.includes(options.role)) pooler = 'not-pooled';
      else {
        const roles = POOLED.flatMap((role) => (next[role] ? [next[role].user] : []));
        const result = await refreshPoolerAuth({
          dir: layout.pgbouncerDir,
          as: await serverOsUser(options.osUser),
          admin,
          roles,
          console: next.pooler,
          listen: { host: state.host, port: state.pooler.port },
          ...(state.tls ? { tls: state.tls } : {}),
        });
        pooler = result.reloaded ? 'reloaded' : 'not-running';
      }
    }
  } finally {
    await admin.end({ timeout: 2 });
  }
  return {
    role: options.role,
    user: current.user,
    generated: !options.password,
    ...(options.password ? { source: options.password.source } : {}),
    secretsFile: layout.secretsFile,
    pooler,
    durationMs: Date.now() - started,
  };
}
