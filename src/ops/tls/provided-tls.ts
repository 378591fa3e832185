import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, chmod, readFile } from 'node:fs/promises';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { checkServerIdentity, connect as connectTls, createServer, type PeerCertificate } from 'node:tls';
import { JeexDbError } from '../../core/errors.ts';
import type { RunAs } from '../../platform/exec.ts';
import { certificateCovers, describeCertificate } from './cert-info.ts';
import { RENEW_WITHIN_DAYS } from './dev-tls.ts';
import { readIfExists, tlsFiles, writeFileAtomic } from './files.ts';

export interface ProvidedTlsOptions {
  dataDir: string;
  certFile: string;
  keyFile: string;
  /** The CA that issued the certificate; none: the system's CAs must trust it (a public CA). */
  caFile?: string;
  /** The address the cluster listens on (127.0.0.1). */
  localHost: string;
  as?: RunAs;
  now?: Date;
}

export interface ProvidedTlsResult {
  /** The copies the server and PgBouncer read (`<dataDir>/tls/provided/`). */
  certFile: string;
  keyFile: string;
  caFile?: string;
  /** What clients verify with: the copied CA file, or `system`. */
  rootCert: string;
  /** The name clients check, when the certificate does not name `localHost` (URLs then carry hostaddr). */
  verifyHost?: string;
  fingerprint: string;
  notAfter: string;
  hosts: string[];
  /** The copies changed since the last `up`: a running server must reload. */
  changed: boolean;
  warnings: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Check real certificate files and copy them where the server can use them: PostgreSQL wants
 * the key owned by its OS user with mode 0600, which files under /etc/ssl seldom are. The
 * certificate must match the key, be valid now, verify against the CA (or the system's CAs) in a
 * TLS 1.3 handshake done here, and name this server: 127.0.0.1, else a DNS name the URLs then
 * use (with `hostaddr=127.0.0.1`). Anything wrong is TLS_CERT_INVALID, naming the file.
 *
 * @example
 * await installProvidedTls({ dataDir: '.jeex-db', certFile: '/etc/ssl/db.crt', keyFile: '/etc/ssl/db.key', localHost: '127.0.0.1' });
 */
export async function installProvidedTls(options: ProvidedTlsOptions): Promise<ProvidedTlsResult> {
  const now = options.now ?? new Date();
  const certPem = await readGiven(options.certFile, 'certificate');
  const keyPem = await readGiven(options.keyFile, 'key');
  const caPem = options.caFile ? await readGiven(options.caFile, 'CA certificate') : undefined;

  let info: ReturnType<typeof describeCertificate>;
  try {
    info = describeCertificate(certPem);
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`the key in ${options.keyFile} does not belong to it`);
  } catch (error) {
    throw invalid(`${options.certFile}: ${(error as Error).message}`, 'Give the server certificate (PEM, the chain after it) and its own private key (PEM).', error);
  }
  if (info.notAfter <= now || info.notBefore > now) {
    throw invalid(`${options.certFile} is valid from ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()}, not now`, 'Renew the certificate, or check the clock.');
  }
  const verifyHost = certificateCovers(certPem, options.localHost) ? undefined : info.dnsNames.find((name) => !name.startsWith('*'));
  if (!certificateCovers(certPem, options.localHost) && !verifyHost) {
    throw invalid(
      `${options.certFile} names neither ${options.localHost} nor a DNS name (it has ${[...info.dnsNames, ...info.ipAddresses].join(', ') || 'no subject alternative names'})`,
      `Issue it for the server's DNS name (clients connect to ${options.localHost} and check that name) or for ${options.localHost}.`,
    );
  }
  const failure = await handshake(certPem, keyPem, caPem, verifyHost ?? options.localHost);
  if (failure) {
    throw invalid(
      `${options.certFile} does not verify against ${options.caFile ?? "the system's CAs"}: ${failure}`,
      options.caFile ? 'Give the CA that issued it (--tls-ca / JEEX_TLS_CA_FILE), and put any intermediate certificates after the server certificate in its file.' : 'Give the CA that issued it with --tls-ca FILE or JEEX_TLS_CA_FILE, or put the intermediate certificates after the server certificate.',
    );
  }

  const dir = join(tlsFiles(options.dataDir).dir, 'provided');
  await mkdir(dir, { recursive: true, mode: options.as ? 0o711 : 0o700 });
  await chmod(join(dir, '..'), options.as ? 0o711 : 0o700);
  await chmod(dir, options.as ? 0o711 : 0o700);
  const copies = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') };
  const before = [await readIfExists(copies.certFile), await readIfExists(copies.keyFile)].join('\n');
  await writeFileAtomic(copies.keyFile, keyPem, 0o600, options.as);
  await writeFileAtomic(copies.certFile, certPem, 0o644, options.as);
  if (caPem) await writeFileAtomic(copies.caFile, caPem, 0o644);

  const warnings: string[] = [];
  if (info.notAfter.getTime() - now.getTime() < RENEW_WITHIN_DAYS * DAY_MS) {
    warnings.push(`the TLS certificate ${options.certFile} ends ${info.notAfter.toISOString()}, within ${RENEW_WITHIN_DAYS} days: renew it, then run \`jeex-db up\` again to install it`);
  }
  return {
    certFile: copies.certFile,
    keyFile: copies.keyFile,
    ...(caPem ? { caFile: copies.caFile } : {}),
    rootCert: caPem ? copies.caFile : 'system',
    ...(verifyHost ? { verifyHost } : {}),
    fingerprint: info.fingerprint,
    notAfter: info.notAfter.toISOString(),
    hosts: [...info.dnsNames, ...info.ipAddresses],
    changed: before !== `${certPem}\n${keyPem}`,
    warnings,
  };
}

async function readGiven(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw invalid(`cannot read the ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, 'Check the path and that jeex-db may read it (it copies the files for the server).', error);
  }
}

function invalid(message: string, hint: string, cause?: unknown): JeexDbError {
  return new JeexDbError('TLS_CERT_INVALID', message, { hint, ...(cause === undefined ? {} : { cause }) });
}

/** A TLS 1.3 handshake against the certificate, as a verify-full client would make it; the error, or undefined. */
async function handshake(certPem: string, keyPem: string, caPem: string | undefined, host: string): Promise<string | undefined> {
  const server = createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<string | undefined>((resolve) => {
      const client = connectTls({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        ...(caPem ? { ca: caPem } : {}),
        ...(isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert),
      });
      client.once('secureConnect', () => {
        client.destroy();
        resolve(undefined);
      });
      client.once('error', (error: Error) => resolve(error.message));
    });
  } finally {
    server.close();
  }
}
