import { chmod, chown, rename, writeFile } from 'node:fs/promises';
import type { Sql } from 'postgres';
import { buildUrl, type UrlTls } from '../../local/state.ts';
import type { RunAs } from '../../platform/exec.ts';
import { poolerAdmin, reload } from './admin.ts';
import { authEntries } from './auth.ts';
import { renderAuthFile } from './ini.ts';
import { poolerFiles, poolerPid, reloadPooler } from './process.ts';

/**
 * Rewrite a PgBouncer's auth_file from pg_authid (after a password rotation) and make a running
 * PgBouncer reload it. Clients connected before keep their connections; new logins need the new
 * password. Returns whether a running PgBouncer was told to reload.
 *
 * @example
 * await refreshPoolerAuth({ dir: layout.pgbouncerDir, as, admin, roles: ['jeex_app'], console });
 */
export async function refreshPoolerAuth(options: {
  dir: string;
  as: RunAs | undefined;
  /** A superuser connection (reads pg_authid). */
  admin: Sql;
  roles: string[];
  console: { user: string; password: string };
  /**
   * Where it listens: RELOAD goes through its admin console, which answers once the new file
   * is in use. Without it, SIGHUP (which returns before PgBouncer has read the file).
   */
  listen?: { host: string; port: number };
  /** How to verify a PgBouncer that accepts TLS connections only (the local one with TLS on). */
  tls?: UrlTls;
}): Promise<{ reloaded: boolean }> {
  const files = poolerFiles(options.dir);
  const text = renderAuthFile(await authEntries(options.admin, options.roles, options.console));
  // Written beside it and renamed: PgBouncer never reads half a file.
  const temp = `${files.authFile}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await chmod(temp, 0o600);
  if (options.as) await chown(temp, options.as.uid, options.as.gid);
  await rename(temp, files.authFile);
  if (!(await poolerPid(files))) return { reloaded: false };
  if (!options.listen) return { reloaded: await reloadPooler(files) };
  const console = poolerAdmin(buildUrl({ ...options.console, host: options.listen.host, port: options.listen.port, database: 'pgbouncer', ...(options.tls ? { tls: options.tls } : {}) }));
  try {
    await reload(console);
  } finally {
    await console.end({ timeout: 1 });
  }
  return { reloaded: true };
}
