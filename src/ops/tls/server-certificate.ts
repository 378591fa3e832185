import { createPrivateKey, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { BACKDATE_MS, exportKeyPem, generateKeyPair, KEY_ALGORITHM, type PemPair } from './certificate-authority.ts';
import { loadX509 } from './load-x509.ts';

/** A server certificate lives about a year; `up` renews it 30 days before it ends. */
export const SERVER_LIFETIME_DAYS = 365;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A server certificate signed by `ca`, for TLS server authentication (EKU serverAuth) under the
 * given host names and addresses (subject alternative names: DNS for names, IP for addresses).
 *
 * @example
 * const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1', '::1']);
 */
export async function issueServerCertificate(ca: PemPair, hosts: readonly string[], options: { now?: Date; days?: number } = {}): Promise<PemPair> {
  const x509 = await loadX509();
  const now = options.now ?? new Date();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    createPrivateKey(ca.keyPem).export({ format: 'der', type: 'pkcs8' }),
    { name: KEY_ALGORITHM.name, namedCurve: KEY_ALGORITHM.namedCurve },
    false,
    ['sign'],
  );
  const keys = await generateKeyPair();
  const names = hosts.map((host) => ({ type: isIP(host) ? ('ip' as const) : ('dns' as const), value: host }));
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [hosts.find((h) => !isIP(h)) ?? hosts[0] ?? 'localhost'] }, { O: ['jeex-db'] }],
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: KEY_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (options.days ?? SERVER_LIFETIME_DAYS) * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await exportKeyPem(keys.privateKey) };
}
