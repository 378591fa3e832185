import { chown, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalLayout } from '../../local/layout.ts';
import type { RunAs } from '../../platform/exec.ts';

/** The file of a standby's settings in its pgdata, included by postgresql.conf (after jeex-local.conf). */
export const STANDBY_CONF = 'jeex-standby.conf';

export interface StandbySettings {
  /** The primary, as the standby connects to it (over TLS, verify-full). */
  primary: { host: string; port: number };
  /** The replication role (REPLICATION only: jeex_replicator). */
  user: string;
  /** A libpq password file with that role's password (see writeStandbyFiles). */
  passFile: string;
  /** The CA the primary's certificate is checked with; absent: the primary runs without TLS (`up --no-tls`). */
  rootCert?: string;
  /** The standby's name on the primary: `application_name`, as synchronous_standby_names lists it. */
  name: string;
  /** The primary's physical replication slot for this standby. */
  slot: string;
  /** The primary's WAL archive (for segments the slot no longer holds, or before streaming starts). */
  archiveDir?: string;
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
const conninfoValue = (value: string) => (/^[^\s'\\]+$/.test(value) ? value : `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`);

/**
 * The standby's `primary_conninfo` (libpq keywords): TLS 1.3 with the primary's certificate
 * checked against its host name, the password from a file (never in the configuration, which
 * `SHOW primary_conninfo` and a base backup of the standby would carry).
 *
 * @example
 * primaryConninfo({ primary: { host: '127.0.0.1', port: 5418 }, user: 'jeex_replicator', passFile: '/d/replication.pgpass', rootCert: '/d/tls/ca.crt', name: 'standby_5419', slot: 'standby_5419' });
 * // "host=127.0.0.1 port=5418 user=jeex_replicator passfile=/d/replication.pgpass application_name=standby_5419 sslmode=verify-full ..."
 */
export function primaryConninfo(settings: StandbySettings): string {
  const pairs: [string, string][] = [
    ['host', settings.primary.host],
    ['port', String(settings.primary.port)],
    ['user', settings.user],
    ['passfile', settings.passFile],
    ['application_name', settings.name],
    ['connect_timeout', '5'],
    // A dead primary (a host gone, not a refused port) is noticed in seconds, not TCP's minutes.
    ['keepalives_idle', '5'],
    ['keepalives_interval', '2'],
    ['keepalives_count', '3'],
    ...(settings.rootCert
      ? ([
          ['sslmode', 'verify-full'],
          ['sslrootcert', settings.rootCert],
          ['ssl_min_protocol_version', 'TLSv1.3'],
        ] as [string, string][])
      : ([['sslmode', 'disable']] as [string, string][])),
  ];
  return pairs.map(([key, value]) => `${key}=${conninfoValue(value)}`).join(' ');
}

/** jeex-standby.conf: what makes the server (with standby.signal) a hot standby of the primary. */
export function renderStandbyConf(settings: StandbySettings): string {
  return [
    '# Written by `jeex-db standby`: this cluster is a hot standby (with standby.signal). `jeex-db promote`',
    '# removes this file. Settings of the primary side (max_slot_wal_keep_size, synchronous_standby_names)',
    '# are in postgresql.conf and the primary\'s postgresql.auto.conf.',
    `primary_conninfo = ${quote(primaryConninfo(settings))}`,
    `primary_slot_name = ${quote(settings.slot)}`,
    '# Segments the primary no longer has (or before streaming starts) come from its archive.',
    ...(settings.archiveDir ? [`restore_command = ${quote(`cp ${join(settings.archiveDir, '%f')} "%p"`)}`] : ["restore_command = ''"]),
    "recovery_target_timeline = 'latest'",
    '# Retry a lost primary (or a missing segment) after 1 s, not the default 5 s: a promotion or a',
    '# restarted primary is picked up within a second.',
    "wal_retrieve_retry_interval = '1s'",
    'hot_standby = on',
    '# Reports the standby\'s oldest snapshot to the primary, so VACUUM there does not remove rows a',
    '# query here still reads (no "canceling statement due to conflict with recovery"); the slot',
    '# keeps it across reconnects. The cost: a long query here holds back VACUUM on the primary.',
    'hot_standby_feedback = on',
    '',
  ].join('\n');
}

/**
 * Make the data directory a standby: jeex-standby.conf, standby.signal and the password file of
 * the replication role (0600, owned by the server's OS user: libpq refuses a readable one).
 */
export async function writeStandbyFiles(layout: LocalLayout, settings: StandbySettings, password: string, as?: RunAs): Promise<void> {
  const escape = (value: string) => value.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
  const pass = `${escape(settings.primary.host)}:${settings.primary.port}:replication:${escape(settings.user)}:${escape(password)}\n`;
  await writeFile(layout.replicationPassFile, pass, { mode: 0o600 });
  const conf = join(layout.pgdata, STANDBY_CONF);
  const signal = join(layout.pgdata, 'standby.signal');
  await writeFile(conf, renderStandbyConf(settings), { mode: 0o600 });
  await writeFile(signal, '', { mode: 0o600 });
  // postgresql.auto.conf of a restored base backup may carry recovery settings: ours come from the included file.
  await rm(join(layout.pgdata, 'recovery.signal'), { force: true });
  if (as) for (const file of [layout.replicationPassFile, conf, signal]) await chown(file, as.uid, as.gid);
}

/** After a promotion: the standby's settings and password file go (the signal file PostgreSQL removed itself). */
export async function removeStandbyFiles(layout: LocalLayout): Promise<void> {
  await rm(join(layout.pgdata, STANDBY_CONF), { force: true });
  await rm(join(layout.pgdata, 'standby.signal'), { force: true });
  await rm(layout.replicationPassFile, { force: true });
}
