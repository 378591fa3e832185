import type { PoolerSetting } from './settings.ts';

export interface IniInputs {
  settings: PoolerSetting[];
  listenAddr: string;
  listenPort: number;
  /** The server behind PgBouncer; `*` routes every database name there. */
  server: { host: string; port: number };
  authFile: string;
  adminUser: string;
  logfile: string;
  pidfile: string;
  header?: string[];
  /** TLS on both sides; absent: plain TCP (a cluster started with `up --no-tls`). */
  tls?: PoolerTls;
}

/** The files PgBouncer's TLS uses (PEM). */
export interface PoolerTls {
  /** What PgBouncer presents to clients (the server's certificate is fine: it names 127.0.0.1). */
  certFile: string;
  keyFile: string;
  /** The CA PgBouncer verifies PostgreSQL's certificate with; absent: the system's CAs. */
  caFile?: string;
  /** Check PostgreSQL's host name too (verify-full); false: the chain only (verify-ca). */
  verifyHostname: boolean;
}

/** The TLS section of pgbouncer.ini (PgBouncer 1.18 names; TLS 1.3 only, both ways). */
export function tlsLines(tls: PoolerTls): string[] {
  return [
    '; TLS from clients: required (plain TCP is refused before login), TLS 1.3 only.',
    'client_tls_sslmode = require',
    'client_tls_protocols = tlsv1.3',
    `client_tls_cert_file = ${tls.certFile}`,
    `client_tls_key_file = ${tls.keyFile}`,
    tls.verifyHostname
      ? '; TLS to PostgreSQL: TLS 1.3, its certificate checked against the CA and the host name above.'
      : '; TLS to PostgreSQL: TLS 1.3, its certificate checked against the CA (it names another host than the address above).',
    `server_tls_sslmode = ${tls.verifyHostname ? 'verify-full' : 'verify-ca'}`,
    'server_tls_protocols = tlsv1.3',
    ...(tls.caFile ? [`server_tls_ca_file = ${tls.caFile}`] : []),
  ];
}

/** pgbouncer.ini for one PostgreSQL server, every setting with its reason. */
export function renderPgbouncerIni(input: IniInputs): string {
  const lines = [
    ...(input.header ?? []).map((line) => (line ? `; ${line}` : ';')),
    '',
    '[databases]',
    '; Any database name goes to the same server, under the name the client asked for.',
    `* = host=${input.server.host} port=${input.server.port}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${input.listenAddr}`,
    `listen_port = ${input.listenPort}`,
    '; TCP only.',
    'unix_socket_dir =',
    '; Clients authenticate with SCRAM against the verifiers in auth_file (copied from pg_authid,',
    '; no plaintext); PgBouncer logs in to the server with the client\'s SCRAM keys.',
    'auth_type = scram-sha-256',
    `auth_file = ${input.authFile}`,
    `; The admin console (database "pgbouncer"): SHOW POOLS, SHOW STATS, RELOAD.`,
    `admin_users = ${input.adminUser}`,
    `stats_users = ${input.adminUser}`,
    `logfile = ${input.logfile}`,
    `pidfile = ${input.pidfile}`,
    ...(input.tls ? tlsLines(input.tls) : ['; No TLS: the cluster runs without it (`jeex-db up --no-tls`).']),
  ];
  for (const setting of input.settings) {
    lines.push(`; ${setting.reason}`, setting.value === '' ? `${setting.name} =` : `${setting.name} = ${setting.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** userlist.txt: `"user" "SCRAM-SHA-256$..."` per line. */
export function renderAuthFile(entries: { user: string; verifier: string }[]): string {
  return entries.map((e) => `"${e.user.replaceAll('"', '""')}" "${e.verifier.replaceAll('"', '""')}"`).join('\n') + '\n';
}
