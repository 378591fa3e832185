import { JeexDbError } from '../../core/errors.ts';
import { parseConnString, withDatabase } from '../../db/conn-string.ts';
import { connect } from '../../db/connect.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { applyRoles, type ApplyRolesResult } from './apply.ts';
import { roleNames, type LoginKind } from './names.ts';
import type { RoleSettings } from './settings.ts';

export interface ApplyRolesAtOptions {
  /** The application database (default: the URL's, else `jeex`). */
  database?: string;
  /** Role names `<prefix>_owner`, `<prefix>_app`, ... (default `jeex`). */
  prefix?: string;
  passwords?: Partial<Record<LoginKind, string>>;
  settings?: Partial<RoleSettings>;
}

/**
 * `applyRoles` on another server, given a superuser URL (what `jeex-db roles apply --url` runs):
 * it connects to the maintenance database `postgres` (the application database may not exist
 * yet), then to each database it grants in, and closes the connections.
 *
 * @example
 * await applyRolesAt(process.env.JEEX_DB_ADMIN_URL, { database: 'jeex', passwords: await passwordsFromEnvironment() });
 */
export async function applyRolesAt(url: string, options: ApplyRolesAtOptions = {}): Promise<ApplyRolesResult> {
  const database = options.database ?? (parseConnString(url).database || 'jeex');
  const admin = connect(withDatabase(url, 'postgres'), { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db roles apply' } });
  try {
    return await applyRoles(admin, (db) => connect(withDatabase(url, db), { max: 1, onnotice: () => {} }), {
      database,
      roles: roleNames(options.prefix),
      ...(options.passwords ? { passwords: options.passwords } : {}),
      ...(options.settings ? { settings: options.settings } : {}),
    });
  } catch (error) {
    throw error instanceof JeexDbError ? error : translateDbError(error);
  } finally {
    await admin.end({ timeout: 2 });
  }
}
