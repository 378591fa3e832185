import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { JeexDbError } from '../../core/errors.ts';
import type { RunAs } from '../../platform/exec.ts';
import { certificateCovers, describeCertificate } from './cert-info.ts';
import { createCertificateAuthority, type PemPair } from './certificate-authority.ts';
import { readIfExists, tlsFiles, writeFileAtomic, type TlsFiles } from './files.ts';
import { certificateHosts } from './hosts.ts';
import { issueServerCertificate } from './server-certificate.ts';

/** A certificate is renewed when it ends within this many days. */
export const RENEW_WITHIN_DAYS = 30;

export interface DevTlsOptions {
  /** The data directory (`.jeex-db`): the files go to `<dataDir>/tls/`. */
  dataDir: string;
  /** Host names or addresses the server certificate must cover besides localhost, 127.0.0.1 and ::1. */
  hosts?: readonly string[];
  /** The server's OS user when we are root: it gets server.key (PostgreSQL reads it as that user). */
  as?: RunAs;
  now?: Date;
}

export interface DevCertificate {
  file: string;
  keyFile: string;
  fingerprint: string;
  notAfter: string;
  /** `created`: there was none (or it was unusable); `renewed`: it was replaced, see `reason`. */
  status: 'created' | 'reused' | 'renewed';
  reason?: string;
}

export interface DevTlsResult {
  dir: string;
  files: TlsFiles;
  ca: DevCertificate;
  server: DevCertificate & { hosts: string[] };
  /** Something was written: a running server (and PgBouncer) must reload to use it. */
  changed: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The local development CA and a server certificate signed by it, in `<dataDir>/tls/`: created
 * on first use, reused afterwards. The server certificate is issued again when it ends within 30
 * days, lacks one of the hosts asked for (it keeps the ones it had), or was not signed by this CA;
 * the CA is made again only when it is missing, unreadable or ends within 30 days (then clients
 * must trust the new ca.crt).
 *
 * @example
 * const tls = await ensureDevTls({ dataDir: '.jeex-db', hosts: ['db.local'] });
 * tls.files.caCert; // what clients verify the server with (sslrootcert)
 */
export async function ensureDevTls(options: DevTlsOptions): Promise<DevTlsResult> {
  const now = options.now ?? new Date();
  const files = tlsFiles(options.dataDir);
  const wanted = certificateHosts(options.hosts);
  try {
    // The server's OS user opens the files by name; it may pass through, not list.
    await mkdir(files.dir, { recursive: true, mode: options.as ? 0o711 : 0o700 });
    await chmod(files.dir, options.as ? 0o711 : 0o700);
  } catch (error) {
    throw new JeexDbError('DATA_DIR_NOT_WRITABLE', `cannot create ${files.dir} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, {
      hint: `Fix the permissions of ${options.dataDir}, or choose another place with --data-dir DIR.`,
      context: { path: files.dir },
      cause: error,
    });
  }

  const renewBefore = new Date(now.getTime() + RENEW_WITHIN_DAYS * DAY_MS);
  const existingCa = await readPair(files.caCert, files.caKey);
  const caProblem = existingCa ? problemWithCa(existingCa, renewBefore) : 'there was none';
  let ca: PemPair;
  let caStatus: DevCertificate['status'] = 'reused';
  if (caProblem) {
    ca = await createCertificateAuthority({ name: `jeex-db development CA (${hostname()})`, now });
    await writeFileAtomic(files.caKey, ca.keyPem, 0o600);
    await writeFileAtomic(files.caCert, ca.certPem, 0o644);
    caStatus = existingCa ? 'renewed' : 'created';
  } else {
    ca = existingCa as PemPair;
  }

  const existingServer = await readPair(files.serverCert, files.serverKey);
  const serverProblem = existingServer ? problemWithServer(existingServer, ca, wanted, renewBefore) : 'there was none';
  let server: PemPair;
  let hosts = wanted;
  let serverStatus: DevCertificate['status'] = 'reused';
  if (serverProblem) {
    // Keep the names an earlier `tls init --host` added: `up` asks only for the defaults.
    const had = existingServer ? safeHosts(existingServer.certPem) : [];
    hosts = certificateHosts([...wanted, ...had]);
    server = await issueServerCertificate(ca, hosts, { now });
    serverStatus = existingServer ? 'renewed' : 'created';
    await writeFileAtomic(files.serverKey, server.keyPem, 0o600, options.as);
    await writeFileAtomic(files.serverCert, server.certPem, 0o644, options.as);
  } else {
    server = existingServer as PemPair;
    hosts = safeHosts(server.certPem);
    // A copied or restored directory may have lost the owner or the mode.
    await chmod(files.serverKey, 0o600);
    if (options.as) await Promise.all([files.serverKey, files.serverCert].map((file) => chown(file, options.as?.uid ?? 0, options.as?.gid ?? 0)));
  }

  const caInfo = describeCertificate(ca.certPem);
  const serverInfo = describeCertificate(server.certPem);
  return {
    dir: files.dir,
    files,
    ca: {
      file: files.caCert,
      keyFile: files.caKey,
      fingerprint: caInfo.fingerprint,
      notAfter: caInfo.notAfter.toISOString(),
      status: caStatus,
      ...(caProblem && existingCa ? { reason: caProblem } : {}),
    },
    server: {
      file: files.serverCert,
      keyFile: files.serverKey,
      fingerprint: serverInfo.fingerprint,
      notAfter: serverInfo.notAfter.toISOString(),
      status: serverStatus,
      ...(serverProblem && existingServer ? { reason: serverProblem } : {}),
      hosts,
    },
    changed: caStatus !== 'reused' || serverStatus !== 'reused',
  };
}

async function readPair(certFile: string, keyFile: string): Promise<PemPair | undefined> {
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  return certPem === undefined || keyPem === undefined ? undefined : { certPem, keyPem };
}

function keyMatches(pair: PemPair): boolean {
  return new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem));
}

/** Why the CA cannot be kept, or undefined when it can. */
function problemWithCa(pair: PemPair, renewBefore: Date): string | undefined {
  try {
    const info = describeCertificate(pair.certPem);
    if (!info.isCa) return 'ca.crt is not a CA certificate';
    if (!keyMatches(pair)) return 'ca.key does not belong to ca.crt';
    if (info.notAfter < renewBefore) return `it ends ${info.notAfter.toISOString()}, within ${RENEW_WITHIN_DAYS} days`;
    return undefined;
  } catch (error) {
    return `it could not be read (${(error as Error).message})`;
  }
}

/** Why the server certificate must be issued again, or undefined when it can be kept. */
function problemWithServer(pair: PemPair, ca: PemPair, hosts: readonly string[], renewBefore: Date): string | undefined {
  try {
    const cert = new X509Certificate(pair.certPem);
    if (!cert.verify(new X509Certificate(ca.certPem).publicKey)) return 'it was not signed by this CA';
    if (!keyMatches(pair)) return 'server.key does not belong to server.crt';
    const info = describeCertificate(pair.certPem);
    if (info.notAfter < renewBefore) return `it ends ${info.notAfter.toISOString()}, within ${RENEW_WITHIN_DAYS} days`;
    const missing = hosts.filter((host) => !certificateCovers(pair.certPem, host));
    if (missing.length > 0) return `it does not cover ${missing.join(', ')}`;
    return undefined;
  } catch (error) {
    return `it could not be read (${(error as Error).message})`;
  }
}

function safeHosts(certPem: string): string[] {
  try {
    const info = describeCertificate(certPem);
    return [...info.dnsNames, ...info.ipAddresses];
  } catch {
    return [];
  }
}
