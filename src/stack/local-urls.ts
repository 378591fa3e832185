import { LOCAL_DATABASE } from '../local/files.ts';
import { buildUrl, type LocalSecrets, type UrlTls } from '../local/state.ts';
import { LOCAL_HOST } from './up-types.ts';

/** The URL of a role of the local cluster, straight to PostgreSQL. */
export function urlFor(role: { user: string; password: string }, port: number, database: string, tls: UrlTls | undefined): string {
  return buildUrl({ user: role.user, password: role.password, host: LOCAL_HOST, port, database, ...(tls ? { tls } : {}) });
}

/** The URLs `up` itself connects with: the app and migrator roles to the application database, the superuser to `postgres`. */
export function localUrls(secrets: LocalSecrets, port: number, tls: UrlTls | undefined): { app: string; migrator: string; superuser: string } {
  return {
    app: urlFor(secrets.app, port, LOCAL_DATABASE, tls),
    migrator: urlFor(secrets.migrator, port, LOCAL_DATABASE, tls),
    superuser: urlFor(secrets.superuser, port, 'postgres', tls),
  };
}

/** The read-only, backup and monitor roles, straight to PostgreSQL. */
export function otherUrls(secrets: LocalSecrets, port: number, tls: UrlTls | undefined): { readonly?: string; backup?: string; monitor?: string } {
  const urls: { readonly?: string; backup?: string; monitor?: string } = {};
  for (const role of ['readonly', 'backup', 'monitor'] as const) {
    const secret = secrets[role];
    if (secret) urls[role] = urlFor(secret, port, LOCAL_DATABASE, tls);
  }
  return urls;
}
