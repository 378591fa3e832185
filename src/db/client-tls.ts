import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { JeexDbError } from '../core/errors.ts';

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
export function clientTarget(url: string): ClientTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not for us to judge (postgres.js reports it, or a multi-host URL URL() cannot read).
    return { url, ssl: false, sslmode: 'disable', single: false };
  }
  const params = parsed.searchParams;
  const given = (name: string) => params.get(name) ?? undefined;
  const rootCert = given('sslrootcert');
  // postgres.js's own spelling (`?ssl=require`) keeps working.
  const rawMode = given('sslmode') ?? legacySsl(given('ssl')) ?? (rootCert === 'system' ? 'verify-full' : 'disable');
  if (!SSL_MODES.includes(rawMode as SslMode)) {
    throw new JeexDbError('INVALID_CONFIG', `sslmode=${rawMode} is not one of ${SSL_MODES.join(', ')}`, {
      hint: 'Use sslmode=verify-full with sslrootcert=<CA file> (what `jeex-db up` prints).',
    });
  }
  let sslmode = rawMode as SslMode;
  // libpq: "require" with a root certificate file verifies the chain, like verify-ca.
  if (sslmode === 'require' && rootCert && rootCert !== 'system') sslmode = 'verify-ca';
  const hostaddr = given('hostaddr');
  const hosts = hostsOf(url);
  const clean = stripParams(url, parsed);

  const single = hosts.length === 1 && !hosts[0]?.startsWith('/');
  const base = { url: clean, sslmode, single, ...(hostaddr ? { hostaddr } : {}) };
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
  return { ...base, ssl: { ...options, ...identity(hosts) } };
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

/** The host names of a URL (several for a multi-host URL `a:5432,b:5432`). */
function hostsOf(url: string): string[] {
  const authority = url.slice(url.indexOf('://') + 3).split(/[/?#]/)[0] ?? '';
  const hostPart = authority.slice(authority.lastIndexOf('@') + 1);
  return hostPart
    .split(',')
    .map((h) => decodeURIComponent(h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.split(':')[0] ?? ''))
    .filter(Boolean);
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

function stripParams(url: string, parsed: URL): string {
  if (!LIBPQ_ONLY.some((name) => parsed.searchParams.has(name))) return url;
  const [beforeQuery = url, query = ''] = url.split('?', 2);
  const kept = new URLSearchParams(query.split('#')[0]);
  for (const name of LIBPQ_ONLY) kept.delete(name);
  const rest = kept.toString();
  return rest ? `${beforeQuery}?${rest}` : beforeQuery;
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
