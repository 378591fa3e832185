import { renderPgbouncerIni, type IniInputs } from './ini.ts';
import { derivePoolerSettings } from './settings.ts';

/** The server `ops/pgbouncer.ini` is derived for (the host of `ops/jeex-tuning.conf`). */
export const OPS_REFERENCE_SERVER = { serverMaxConnections: 100, cpus: 2, preparedStatements: false } as const;

/** Where the deployed PgBouncer listens, what it fronts and where its files are (Debian's paths). */
export const OPS_POOLER_PLACES = {
  listenAddr: '0.0.0.0',
  listenPort: 6432,
  // The service name in ops/compose.yaml.
  server: { host: 'postgres', port: 5432 },
  authFile: '/etc/pgbouncer/userlist.txt',
  adminUser: 'jeex_pgbouncer',
  logfile: '/var/log/postgresql/pgbouncer.log',
  pidfile: '/var/run/postgresql/pgbouncer.pid',
  // The certificate names the host clients connect to; the CA is the one PostgreSQL's certificate
  // comes from (its certificate must name `postgres`, the host in [databases]).
  tls: { certFile: '/etc/pgbouncer/tls/server.crt', keyFile: '/etc/pgbouncer/tls/server.key', caFile: '/etc/pgbouncer/tls/ca.crt', verifyHostname: true },
} as const satisfies Omit<IniInputs, 'settings' | 'header'>;

/**
 * The query that writes PgBouncer's auth_file: each role's SCRAM verifier as pg_authid holds it
 * (no plaintext), one `"role" "SCRAM-SHA-256$..."` line each.
 *
 * @example
 * userlistQuery(['jeex_app']) // SELECT format(...) FROM pg_authid WHERE rolname IN ('jeex_app')
 */
export function userlistQuery(roles: readonly string[]): string {
  const names = roles.map((role) => `'${role.replaceAll("'", "''")}'`).join(', ');
  return `SELECT format('"%s" "%s"', rolname, rolpassword) FROM pg_authid WHERE rolname IN (${names}) ORDER BY rolname`;
}

export interface PgbouncerTemplateInputs {
  serverMaxConnections: number;
  cpus: number;
  /** PgBouncer 1.21+ (prepared statements in transaction mode). */
  preparedStatements: boolean;
}

/**
 * pgbouncer.ini for a production server (what `ops/pgbouncer.ini` holds for the reference server,
 * and what `jeex-db config --format pgbouncer` prints for another one): the same settings `jeex-db
 * up` derives locally, with a header that says how to make the auth file.
 *
 * @example
 * pgbouncerTemplate({ serverMaxConnections: 200, cpus: 4, preparedStatements: false })
 */
export function pgbouncerTemplate(server: PgbouncerTemplateInputs): string {
  const places = OPS_POOLER_PLACES;
  const version = server.preparedStatements ? 'PgBouncer 1.21+ (prepared statements kept)' : 'PgBouncer 1.18-1.20 (no prepared statements)';
  const header = [
    `pgbouncer.ini in front of ops/compose.yaml's \`postgres\` service, derived for a server with`,
    `max_connections = ${server.serverMaxConnections} and ${server.cpus} CPUs, ${version}.`,
    'Regenerate it for your server (pool sizes follow its max_connections and CPUs):',
    `  npx jeex-db config --format pgbouncer --cpus 4 [--max-connections 200] [--prepared-statements] > ops/pgbouncer.ini`,
    '`jeex-db up` writes the same settings for a local cluster (.jeex-db/pgbouncer/pgbouncer.ini).',
    '',
    `auth_file (${places.authFile}, mode 0600, owned by PgBouncer's OS user) holds SCRAM verifiers`,
    'copied from pg_authid, never a plaintext password. PgBouncer checks clients against them and logs',
    'in to PostgreSQL with the keys of the client\'s own SCRAM exchange. Make it as a superuser:',
    `  psql "$SUPERUSER_URL" -At -c "${userlistQuery(['jeex_app', places.adminUser]).replaceAll('"', '\\"')}" > ${places.authFile}`,
    `${places.adminUser} is the admin console user (SHOW POOLS, SHOW STATS, RELOAD). It needs a`,
    'PostgreSQL role only to hold its verifier, so create it once, unable to log in:',
    `  SET password_encryption = 'scram-sha-256'; CREATE ROLE ${places.adminUser} NOLOGIN PASSWORD '...';`,
    'After a password change, run the psql line again, then RELOAD on the console (or SIGHUP).',
    '',
    `TLS 1.3 both ways: clients must use TLS (${places.tls.certFile} and its key, 0600, owned by`,
    `PgBouncer's OS user), and PgBouncer verifies PostgreSQL's certificate against ${places.tls.caFile}`,
    'and the host name `postgres` (verify-full). Clients verify PgBouncer with sslmode=verify-full.',
    '',
    `Services use postgres://jeex_app:...@pgbouncer-host:${places.listenPort}/jeex?sslmode=verify-full&sslrootcert=/path/ca.crt`,
    'with JEEX_DB_POOLER=pgbouncer;',
    'migrations, LISTEN and session locks need a session: JEEX_DB_DIRECT_URL points at PostgreSQL.',
  ];
  return renderPgbouncerIni({ ...places, settings: derivePoolerSettings(server), header });
}
