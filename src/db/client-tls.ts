import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { JeexDbError } from '../core/errors.ts';
import { formatConnString, parseConnString, paramOf, type ConnString, type ServerAddress } from './conn-string.ts';
import { postgresJsSessionAttrs, sessionAttrs, type SessionAttrs } from './session-attrs.ts';

/** What postgres.js's `ssl` option gets: off, its own unverified modes, or Node TLS options. */
export type ClientSsl = false | 'prefer' | 'require' | ConnectionOptions;

export interface ClientTarget {
  /** The URL without the libpq-only parameters (postgres.js would send them to the server). */
  url: string;
  ssl: ClientSsl;
  /** libpq's `hostaddr`: connect here, verify the certificate against the URL's host. */
  hostaddr?: string;
  /** The sslmode in force, libpq's names (`disable` when none). */
  sslmode: SslMode;
  /** One TCP host (not a multi-host URL, not a Unix socket): `openTlsSocket` can connect it. */
  single: boolean;
  /** Every server, in the order to try them (several for `h1:5432,h2:5433` or `host=h1,h2`). */
  hosts: ServerAddress[];
  /** `target_session_attrs` (else PGTARGETSESSIONATTRS, else `any`): which server a connection must reach. */
  sessionAttrs: SessionAttrs;
  /** The connection string read, without the parameters postgres.js must not see. */
  connection: ConnString;
}

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * libpq parameters postgres.js does not know: left in the URL it would send them to the server
 * as settings, and the login would fail ("unrecognized configuration parameter").
 */
const LIBPQ_ONLY = [
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'sslpassword',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'sslcertmode',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'channel_binding',
  'hostaddr',
  // Checked by jeex-db itself (see session-attrs.ts), or by postgres.js through its own option.
  'target_session_attrs',
  'load_balance_hosts',
] as const;

const PROTOCOLS = { 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' } as const;

/**
 * Read a postgres:// URL's TLS parameters the way libpq does and turn them into what postgres.js
 * needs. `sslmode=verify-full&sslrootcert=FILE` (what `jeex-db up` prints) becomes
 * `{ ca, rejectUnauthorized: true, servername, minVersion: 'TLSv1.3' }`; postgres.js itself
 * would send `sslrootcert` to the server and, for verify-full, trust only Node's built-in CAs.
 *
 * - `verify-full`: the chain ends at `sslrootcert` (`system`, or none: Node's CAs) and the
 *   certificate names the URL's host (an IP address must be an IP SAN).
 * - `verify-ca`: the chain is checked, the name is not.
 * - `require`: encrypted, nothing verified (as libpq, verify-ca when `sslrootcert` names a file).
 * - `prefer`/`allow`: TLS when the server offers it, unverified. `disable`: plain TCP.
 * - `ssl_min_protocol_version` (default TLSv1.3 here, libpq's is TLSv1.2) and
 *   `ssl_max_protocol_version`; `sslcert`/`sslkey` for a client certificate; `hostaddr`.
 *
 * @example
 * clientTarget('postgres://u:p@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/x/ca.crt').ssl;
 * // { ca: '-----BEGIN CERTIFICATE-----...', rejectUnauthorized: true, host: '127.0.0.1', minVersion: 'TLSv1.3' }
 */
export function clientTarget(url: string, env: NodeJS.ProcessEnv = process.env): ClientTarget {
  let connection: ConnString;
  try {
    connection = parseConnString(url);
  } catch {
    // Not for us to judge (postgres.js reports it; resolveDbConfig has said what is wrong).
    return { url, ssl: false, sslmode: 'disable', single: false, hosts: [], sessionAttrs: 'any', connection: { form: 'url', hosts: [], params: [] } };
  }
  const given = (name: string) => paramOf(connection, name);
  const rootCert = given('sslrootcert');
  // postgres.js's own spelling (`?ssl=require`) keeps working.
  const rawMode = given('sslmode') ?? legacySsl(given('ssl')) ?? (rootCert === 'system' ? 'verify-full' : 'disable');
  if (!SSL_MODES.includes(rawMode as SslMode)) {
    throw new JeexDbError('INVALID_CONFIG', `sslmode=${rawMode} is not one of ${SSL_MODES.join(', ')}`, {
      hint: 'Use sslmode=verify-full with sslrootcert=<CA file> (what `jeex-db up` prints).',
    });
  }
  const balance = given('load_balance_hosts');
  if (balance !== undefined && balance !== 'disable') {
    throw new JeexDbError('INVALID_CONFIG', `load_balance_hosts=${balance} is not supported: jeex-db tries the hosts in the order given (load_balance_hosts=disable)`, {
      hint: 'Remove load_balance_hosts from the URL and list the hosts in the order to try them.',
    });
  }
  let sslmode = rawMode as SslMode;
  // libpq: "require" with a root certificate file verifies the chain, like verify-ca.
  if (sslmode === 'require' && rootCert && rootCert !== 'system') sslmode = 'verify-ca';
  const hosts = connection.hosts;
  const hostaddr = hosts.length === 1 ? hosts[0]?.hostaddr : undefined;
  const clean: ConnString = { ...connection, params: connection.params.filter(([name]) => !(LIBPQ_ONLY as readonly string[]).includes(name)) };
  const single = hosts.length === 1 && !hosts[0]?.host.startsWith('/');
  const base = {
    url: connection.form === 'url' ? stripParams(url) : formatConnString(clean),
    sslmode,
    single,
    hosts,
    sessionAttrs: sessionAttrs(given('target_session_attrs'), env),
    connection: clean,
    ...(hostaddr ? { hostaddr } : {}),
  };
  if (sslmode === 'disable') return { ...base, ssl: false };
  if (sslmode === 'allow' || sslmode === 'prefer') return { ...base, ssl: 'prefer' };
  const options: ConnectionOptions = {
    minVersion: protocol(given('ssl_min_protocol_version') ?? 'TLSv1.3', 'ssl_min_protocol_version'),
    ...(given('ssl_max_protocol_version') ? { maxVersion: protocol(given('ssl_max_protocol_version') ?? '', 'ssl_max_protocol_version') } : {}),
    ...clientCertificate(given('sslcert'), given('sslkey')),
  };
  if (sslmode === 'require') return { ...base, ssl: { ...options, rejectUnauthorized: false } };

  options.rejectUnauthorized = true;
  if (rootCert && rootCert !== 'system') options.ca = readPem(rootCert, 'sslrootcert');
  if (sslmode === 'verify-ca') {
    options.checkServerIdentity = () => undefined;
    return { ...base, ssl: options };
  }
  return { ...base, ssl: { ...options, ...identity(hosts.map((h) => h.host)) } };
}

/**
 * What `postgres()` gets for this target: a one-host URL (postgres.js's own URL parsing cannot
 * read IPv6 addresses in a host list) and the hosts as arrays. With `ownSocket` (jeex-db's socket
 * factory connects and picks the host), postgres.js is given only the first host, so that it
 * reports a failed connection instead of cycling through hosts itself, and checks the session
 * role as libpq means it (see `postgresJsSessionAttrs`; jeex-db's own check runs first).
 *
 * @example
 * const { url, options } = postgresJsArgs(clientTarget(process.env.DATABASE_URL), { ownSocket: true });
 */
export function postgresJsArgs(target: ClientTarget, { ownSocket }: { ownSocket: boolean }): { url: string; options: { host?: string[]; port?: number[]; path?: string; target_session_attrs?: 'primary' | 'standby' } } {
  if (target.hosts.length === 0) return { url: target.url, options: {} };
  const hosts = ownSocket ? target.hosts.slice(0, 1) : target.hosts;
  const first = target.hosts[0] as ServerAddress;
  const attrs = postgresJsSessionAttrs(target.sessionAttrs);
  return {
    url: formatConnString({ ...target.connection, hosts: [{ host: first.host.startsWith('/') || first.host.includes(':') ? 'localhost' : first.host, port: first.port }] }),
    options: {
      host: hosts.map((h) => h.hostaddr ?? h.host),
      port: hosts.map((h) => h.port),
      ...(first.host.startsWith('/') && !ownSocket ? { path: `${first.host}/.s.PGSQL.${first.port}` } : {}),
      ...(attrs ? { target_session_attrs: attrs } : {}),
    },
  };
}

/**
 * The TLS options for one server of the target: verify-full checks its certificate against that
 * server's own name (not any of the list's). Undefined for no TLS.
 *
 * @example
 * tlsFor(target, target.hosts[1]);
 */
export function tlsFor(target: ClientTarget, address: ServerAddress): { tls: ConnectionOptions; allowPlain: boolean } | undefined {
  const own = socketTls(target);
  if (!own || target.sslmode !== 'verify-full') return own;
  const { checkServerIdentity: _check, servername: _name, host: _host, ...rest } = own.tls;
  return { tls: { ...rest, ...identity([address.host]) }, allowPlain: false };
}

/**
 * How `openTlsSocket` makes this target's connection: its TLS options, and whether a server that
 * declines TLS may be used in clear (prefer); undefined for no TLS.
 */
export function socketTls(target: ClientTarget): { tls: ConnectionOptions; allowPlain: boolean } | undefined {
  if (target.ssl === false) return undefined;
  if (target.ssl === 'prefer' || target.ssl === 'require') return { tls: { rejectUnauthorized: false }, allowPlain: target.ssl === 'prefer' };
  return { tls: target.ssl, allowPlain: false };
}

function legacySsl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return 'require';
  if (value === 'false') return 'disable';
  return value;
}

/**
 * How Node checks the name: it compares the certificate with `servername`, else `host`, else
 * "localhost" (so an IP address must be given as `host`, or 127.0.0.1 would be checked as
 * "localhost"). Several hosts: the certificate must name one of them.
 */
function identity(hosts: string[]): ConnectionOptions {
  const [only, ...more] = hosts;
  if (only && more.length === 0) return isIP(only) ? { host: only } : { servername: only };
  return {
    checkServerIdentity: (_name: string, cert: PeerCertificate) => {
      const errors = hosts.map((host) => checkServerIdentity(host, cert));
      return errors.some((e) => e === undefined) ? undefined : errors[0];
    },
  };
}

/** The URL without the libpq-only parameters, the rest as written. */
function stripParams(url: string): string {
  const [beforeQuery = url, rest = ''] = url.split('?', 2);
  if (!rest) return url;
  const [query = '', fragment] = rest.split('#', 2);
  const kept = query.split('&').filter((part) => part && !(LIBPQ_ONLY as readonly string[]).includes(decodeURIComponent(part.split('=')[0] ?? '')));
  if (kept.length === query.split('&').filter(Boolean).length) return url;
  return `${beforeQuery}${kept.length > 0 ? `?${kept.join('&')}` : ''}${fragment !== undefined ? `#${fragment}` : ''}`;
}

function protocol(value: string, name: string): 'TLSv1.2' | 'TLSv1.3' {
  const known = PROTOCOLS[value as keyof typeof PROTOCOLS];
  if (!known) {
    throw new JeexDbError('INVALID_CONFIG', `${name}=${value} is not supported; use TLSv1.2 or TLSv1.3`, {
      hint: `Remove ${name} from the URL (TLS 1.3 is the default), or set it to TLSv1.2 for a server that cannot do 1.3.`,
    });
  }
  return known;
}

function clientCertificate(certFile: string | undefined, keyFile: string | undefined): ConnectionOptions {
  if (!certFile && !keyFile) return {};
  if (!certFile || !keyFile) {
    throw new JeexDbError('INVALID_CONFIG', `sslcert and sslkey go together; the URL has only ${certFile ? 'sslcert' : 'sslkey'}`, {
      hint: 'Give both files of the client certificate, or neither.',
    });
  }
  return { cert: readPem(certFile, 'sslcert'), key: readPem(keyFile, 'sslkey') };
}

function readPem(file: string, parameter: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `${parameter}=${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, {
      hint: parameter === 'sslrootcert' ? 'Point sslrootcert at the CA certificate the server\'s certificate was signed with (`jeex-db up` prints it; `jeex-db tls init` makes it).' : `Fix the path of ${parameter}, or remove it from the URL.`,
      context: { file },
      cause: error,
    });
  }
}
