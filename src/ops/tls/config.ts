import { resolve } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';

/** How `up` sets up TLS, as flags and environment ask for it. */
export interface TlsInput {
  /** false: `--no-tls`, plain TCP (refused in production). Default true. */
  enabled?: boolean;
  /** Real certificate files (production): --tls-cert/--tls-key/--tls-ca, else JEEX_TLS_CERT_FILE/... */
  certFile?: string;
  keyFile?: string;
  /** The CA clients verify the certificate with; none: the system's CAs (a public CA). */
  caFile?: string;
  /** `--production`; NODE_ENV=production means the same. */
  production?: boolean;
}

export type TlsPlan =
  | { mode: 'dev-ca'; production: false }
  | { mode: 'files'; certFile: string; keyFile: string; caFile?: string; production: boolean }
  | { mode: 'off'; production: false };

/**
 * Decide how the local cluster does TLS: options, then JEEX_TLS_CERT_FILE / JEEX_TLS_KEY_FILE /
 * JEEX_TLS_CA_FILE, then the development CA. In production (`production`, or NODE_ENV=production)
 * nothing starts without TLS from real certificate files: `--no-tls` and the development CA are
 * refused with TLS_REQUIRED. Contradictions are INVALID_CONFIG, all named at once.
 *
 * @example
 * resolveTlsPlan({}, { NODE_ENV: 'production', JEEX_TLS_CERT_FILE: '/etc/ssl/db.crt', JEEX_TLS_KEY_FILE: '/etc/ssl/db.key' });
 * // { mode: 'files', certFile: '/etc/ssl/db.crt', keyFile: '/etc/ssl/db.key', production: true }
 */
export function resolveTlsPlan(input: TlsInput, env: NodeJS.ProcessEnv = process.env): TlsPlan {
  const production = Boolean(input.production) || env.NODE_ENV === 'production';
  // The value and where it came from (the flag or the variable), for the messages.
  const from = (option: string | undefined, flag: string, variable: string): { value: string; name: string } | undefined => {
    if (option) return { value: option, name: flag };
    const value = env[variable];
    return value ? { value, name: variable } : undefined;
  };
  const cert = from(input.certFile, '--tls-cert', 'JEEX_TLS_CERT_FILE');
  const key = from(input.keyFile, '--tls-key', 'JEEX_TLS_KEY_FILE');
  const ca = from(input.caFile, '--tls-ca', 'JEEX_TLS_CA_FILE');
  const problems: string[] = [];
  if (cert && !key) problems.push(`${cert.name} is set but not its key: set --tls-key or JEEX_TLS_KEY_FILE too`);
  if (key && !cert) problems.push(`${key.name} is set but not the certificate: set --tls-cert or JEEX_TLS_CERT_FILE too`);
  if (ca && !cert) problems.push(`${ca.name} is set without a certificate: it only goes with --tls-cert/--tls-key`);
  if (input.enabled === false && cert) problems.push(`--no-tls contradicts ${cert.name}: leave one out`);
  if (problems.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `invalid TLS configuration:\n  - ${problems.join('\n  - ')}`, {
      hint: 'Fix the flags or environment variables named above.',
      context: { problems },
    });
  }
  if (input.enabled === false) {
    if (production) throw tlsRequired('--no-tls is refused in production');
    return { mode: 'off', production: false };
  }
  if (cert && key) {
    return { mode: 'files', certFile: resolve(cert.value), keyFile: resolve(key.value), ...(ca ? { caFile: resolve(ca.value) } : {}), production };
  }
  if (production) throw tlsRequired('production needs real certificate files; the development CA is for local use only');
  return { mode: 'dev-ca', production: false };
}

function tlsRequired(why: string): JeexDbError {
  return new JeexDbError('TLS_REQUIRED', `refusing to start without TLS in production (NODE_ENV=production or --production): ${why}`, {
    hint: 'Give the server certificate and key: --tls-cert FILE --tls-key FILE [--tls-ca FILE], or JEEX_TLS_CERT_FILE / JEEX_TLS_KEY_FILE [/ JEEX_TLS_CA_FILE]. For a local cluster leave NODE_ENV unset.',
  });
}
