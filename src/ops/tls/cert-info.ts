import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** What a certificate says about itself, as `tls init` and `up` report it. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** SHA-256 of the DER certificate, `AB:CD:...` (what `openssl x509 -fingerprint -sha256` prints). */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject alternative names: DNS names and IP addresses. */
  dnsNames: string[];
  ipAddresses: string[];
  isCa: boolean;
}

/**
 * Read a PEM certificate (the first one of a chain file).
 *
 * @example
 * describeCertificate(readFileSync('.jeex-db/tls/server.crt', 'utf8')).dnsNames; // ['localhost']
 */
export function describeCertificate(pem: string | Buffer): CertificateInfo {
  const cert = new X509Certificate(pem);
  const names = splitAltNames(cert.subjectAltName ?? '');
  return {
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    fingerprint: cert.fingerprint256,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ipAddresses: names.filter((n) => n.startsWith('IP Address:')).map((n) => normalizeIp(n.slice(11))),
    isCa: cert.ca,
  };
}

/** Node writes the names comma-separated, quoting any that hold a comma. */
function splitAltNames(text: string): string[] {
  return [...text.matchAll(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g)].map((m) => m[0].trim().replaceAll('"', ''));
}

/** `::1` and `0:0:0:0:0:0:0:1` are the same address: compare in one spelling. */
function normalizeIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/** Whether a client verifying host name or address `host` (verify-full) accepts this certificate. */
export function certificateCovers(pem: string | Buffer, host: string): boolean {
  const cert = new X509Certificate(pem);
  return isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}
