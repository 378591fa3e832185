import { readFileSync } from 'node:fs';
import type { LocalLayout } from './layout.ts';
import { localFileDamaged, localStateSchema, parseLocalFile, storedSecretsSchema } from './validate.ts';

/** Non-secret facts about a local cluster, written by `jeex-db up` to `state.json`. */
export interface LocalState {
  version: 1;
  pgMajor: number;
  host: string;
  port: number;
  database: string;
  roles: { superuser: string; migrator: string; app: string; owner?: string; readonly?: string; backup?: string; monitor?: string; replicator?: string };
  /** The role settings `up` and `roles apply` used last (flags and environment override them). */
  roleSettings?: { idleSessionTimeoutMs: number; idleInTransactionTimeoutMs: number; auditReads: boolean };
  /** The local PgBouncer in front of the server, when `up` started one. */
  pooler?: { port: number; version: string; preparedStatements: boolean };
  /** How clients verify the server over TLS (absent: the cluster runs without TLS, `up --no-tls`). */
  tls?: UrlTls;
}

/** What a URL carries for a client to verify the server: libpq's sslrootcert, and the name to check. */
export interface UrlTls {
  /** The CA certificate file (absolute), or `system` for the system's CAs. */
  rootCert: string;
  /** The name the certificate is issued to when it does not cover the address connected to (libpq's host, with hostaddr). */
  verifyHost?: string;
}

export interface RoleSecret {
  user: string;
  password: string;
}

/** Generated passwords, written to `secrets.json` with mode 0600. */
export interface LocalSecrets {
  version: 1;
  superuser: RoleSecret;
  migrator: RoleSecret;
  app: RoleSecret;
  /** Added by `up` to secrets.json files made before these roles existed. */
  readonly?: RoleSecret;
  backup?: RoleSecret;
  monitor?: RoleSecret;
  /** The streaming standby's login (REPLICATION only; no URL: it connects for replication, not queries). */
  replicator?: RoleSecret;
  /** PgBouncer's admin console user (not a PostgreSQL role). */
  pooler?: RoleSecret;
}

/** The login roles of a local cluster that have a URL (`jeex-db url ROLE`). */
export const LOCAL_LOGIN_ROLES = ['app', 'migrator', 'superuser', 'readonly', 'backup', 'monitor'] as const;
export type LocalRole = (typeof LOCAL_LOGIN_ROLES)[number];

function readBytes(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** state.json, or undefined when there is none; a damaged one throws LOCAL_STATE_DAMAGED (see validate.ts). */
export function readLocalState(layout: LocalLayout): LocalState | undefined {
  const bytes = readBytes(layout.stateFile);
  return bytes && parseLocalFile(layout.stateFile, 'state', bytes, localStateSchema);
}

/**
 * secrets.json as stored: only the superuser's entry is required (`up` adds passwords for the
 * roles without one). Undefined when there is none; a damaged one throws LOCAL_STATE_DAMAGED.
 */
export function readStoredSecrets(layout: LocalLayout): (Partial<LocalSecrets> & Pick<LocalSecrets, 'version' | 'superuser'>) | undefined {
  const bytes = readBytes(layout.secretsFile);
  return bytes && parseLocalFile(layout.secretsFile, 'secrets', bytes, storedSecretsSchema);
}

/** secrets.json with the migrator's and the app's passwords, or undefined when there is none; a damaged one throws LOCAL_STATE_DAMAGED. */
export function readLocalSecrets(layout: LocalLayout): LocalSecrets | undefined {
  const stored = readStoredSecrets(layout);
  if (!stored) return undefined;
  const missing = (['migrator', 'app'] as const).filter((role) => !stored[role]);
  if (missing.length > 0) throw localFileDamaged(layout.secretsFile, 'secrets', `it has no ${missing.join(' and ')} entry`);
  return stored as LocalSecrets;
}

/**
 * A postgres:// URL for one role of the local cluster, or undefined when there is none yet. The
 * app role goes through the local PgBouncer when there is one, unless `direct`; the migrator and
 * the superuser always connect directly (migrations and administration need sessions).
 */
export function localUrl(layout: LocalLayout, role: LocalRole, options: { database?: string; direct?: boolean } = {}): string | undefined {
  const state = readLocalState(layout);
  const secrets = readLocalSecrets(layout);
  if (!state || !secrets) return undefined;
  const secret = secrets[role];
  if (!secret) return undefined;
  const pooled = role === 'app' && !options.direct && state.pooler;
  return buildUrl({
    user: secret.user,
    password: secret.password,
    host: state.host,
    port: pooled ? pooled.port : state.port,
    database: options.database ?? (role === 'superuser' ? 'postgres' : state.database),
    ...(state.tls ? { tls: state.tls } : {}),
  });
}

/**
 * A postgres:// URL. With `tls`, it carries what a client needs to verify the server, in libpq's
 * words (psql, pg_dump and `connect()` read them): `?sslmode=verify-full&sslrootcert=/abs/ca.crt`,
 * plus `hostaddr` when the certificate names the server differently from the address.
 */
export function buildUrl(parts: { user: string; password: string; host: string; port: number; database: string; tls?: UrlTls }): string {
  const auth = `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  const host = parts.tls?.verifyHost ?? parts.host;
  const base = `postgres://${auth}@${host.includes(':') ? `[${host}]` : host}:${parts.port}/${encodeURIComponent(parts.database)}`;
  if (!parts.tls) return base;
  // Slashes stay readable: libpq and URL() decode either spelling.
  const rootCert = encodeURIComponent(parts.tls.rootCert).replaceAll('%2F', '/');
  const hostaddr = parts.tls.verifyHost ? `&hostaddr=${encodeURIComponent(parts.host)}` : '';
  return `${base}?sslmode=verify-full&sslrootcert=${rootCert}${hostaddr}`;
}
