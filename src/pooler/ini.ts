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
