import { webcrypto } from 'node:crypto';
import { loadX509 } from './load-x509.ts';

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** ECDSA P-256 with SHA-256: small keys, fast handshakes, accepted by PostgreSQL, libpq, PgBouncer and Node. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** The development CA lives about ten years: clients trust it once. */
export const CA_LIFETIME_DAYS = 3652;
/** Validity starts an hour back, so a clock a little behind does not reject a fresh certificate. */
export const BACKDATE_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const x509 = await loadX509();
  return `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY')}\n`;
}

/**
 * A new development certificate authority: a self-signed ECDSA P-256 certificate that may sign
 * server certificates only (path length 0), valid for about ten years.
 *
 * @example
 * const ca = await createCertificateAuthority({ name: 'jeex-db development CA (my-laptop)' });
 * writeFileSync('ca.crt', ca.certPem);
 */
export async function createCertificateAuthority(options: { name: string; now?: Date; days?: number }): Promise<PemPair> {
  const x509 = await loadX509();
  const now = options.now ?? new Date();
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [options.name] }, { O: ['jeex-db'] }],
    keys: keys,
    signingAlgorithm: KEY_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (options.days ?? CA_LIFETIME_DAYS) * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await exportKeyPem(keys.privateKey) };
}
