import { isIP } from 'node:net';
import { JeexDbError } from '../../core/errors.ts';

/** What every local server certificate covers: the names a local client connects with. */
export const DEFAULT_TLS_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;

const DNS_NAME = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * The host names and addresses a server certificate must cover: the defaults, then `extra`, each
 * once, names in lower case. An entry that is neither an IP address nor a DNS name is an
 * INVALID_CONFIG error naming it.
 *
 * @example
 * certificateHosts(['db.internal']); // ['localhost', '127.0.0.1', '::1', 'db.internal']
 */
export function certificateHosts(extra: readonly string[] = []): string[] {
  const bad = extra.filter((host) => !isIP(host) && !DNS_NAME.test(host));
  if (bad.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `not a host name or IP address: ${bad.map((h) => JSON.stringify(h)).join(', ')}`, {
      hint: 'Pass --host with a DNS name (db.example.internal) or an address (10.0.0.5, fd00::5), once per host.',
    });
  }
  const hosts: string[] = [];
  for (const host of [...DEFAULT_TLS_HOSTS, ...extra]) {
    const normal = isIP(host) ? host : host.toLowerCase();
    if (!hosts.includes(normal)) hosts.push(normal);
  }
  return hosts;
}
