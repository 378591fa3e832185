import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, createServer, type ConnectionOptions } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { isJeexDbError } from '../../src/core/errors.ts';
import { createCertificateAuthority } from '../../src/ops/tls/certificate-authority.ts';
import { ensureDevTls } from '../../src/ops/tls/dev-tls.ts';
import { installProvidedTls } from '../../src/ops/tls/provided-tls.ts';
import { issueServerCertificate } from '../../src/ops/tls/server-certificate.ts';

const root = await mkdtemp(join(tmpdir(), 'jeex-tls-certs-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`);
const DAY = 24 * 60 * 60 * 1000;

/** A TLS 1.3 handshake against `cert`/`key` with a verifying client; the client's error code, or 'ok'. */
async function handshake(cert: string, key: string, client: ConnectionOptions): Promise<string> {
  const server = createServer({ cert, key, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<string>((resolve) => {
      const socket = connectTls({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: true, minVersion: 'TLSv1.3', ...client });
      socket.once('secureConnect', () => {
        resolve(socket.getProtocol() === 'TLSv1.3' ? 'ok' : `protocol ${socket.getProtocol() ?? '?'}`);
        socket.destroy();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
  } finally {
    server.close();
  }
}

describe('ensureDevTls: the development CA and the server certificate', () => {
  it('creates an ECDSA P-256 CA (about ten years, CA only) and a server certificate it signed (about a year, serverAuth, the local names), keys 0600', async () => {
    const dir = freshDir();
    const result = await ensureDevTls({ dataDir: dir });
    expect([result.ca.status, result.server.status, result.changed]).toEqual(['created', 'created', true]);
    const ca = new X509Certificate(await readFile(result.files.caCert));
    const server = new X509Certificate(await readFile(result.files.serverCert));
    expect(ca.ca).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect((Date.parse(ca.validTo) - Date.now()) / DAY).toBeGreaterThan(3640);
    expect((Date.parse(server.validTo) - Date.now()) / DAY).toBeGreaterThan(360);
    expect((Date.parse(server.validTo) - Date.now()) / DAY).toBeLessThan(370);
    expect(server.ca).toBe(false);
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(result.server.hosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(result.ca.fingerprint).toBe(ca.fingerprint256);
    for (const file of [result.files.caKey, result.files.serverKey]) expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(result.dir)).mode & 0o077).toBe(0);

    // What a verify-full client does with it: 127.0.0.1 and localhost pass, another name does not.
    const [cert, key, caPem] = await Promise.all([readFile(result.files.serverCert, 'utf8'), readFile(result.files.serverKey, 'utf8'), readFile(result.files.caCert, 'utf8')]);
    expect(await handshake(cert, key, { ca: caPem })).toBe('ok');
    expect(await handshake(cert, key, { ca: caPem, servername: 'localhost' })).toBe('ok');
    expect(await handshake(cert, key, { ca: caPem, servername: 'db.example.com' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(await handshake(cert, key, {})).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('reuses both on the next run, and renews the server certificate 30 days before it ends', async () => {
    const dir = freshDir();
    const first = await ensureDevTls({ dataDir: dir });
    const again = await ensureDevTls({ dataDir: dir });
    expect([again.ca.status, again.server.status, again.changed]).toEqual(['reused', 'reused', false]);
    expect(again.server.fingerprint).toBe(first.server.fingerprint);

    const nearEnd = new Date(Date.parse(first.server.notAfter) - 20 * DAY);
    const renewed = await ensureDevTls({ dataDir: dir, now: nearEnd });
    expect(renewed.server.status).toBe('renewed');
    expect(renewed.server.reason).toMatch(/within 30 days/);
    expect(renewed.server.fingerprint).not.toBe(first.server.fingerprint);
    expect(Date.parse(renewed.server.notAfter)).toBeGreaterThan(Date.parse(first.server.notAfter));
    // The CA (ten years) stays: clients keep trusting it.
    expect([renewed.ca.status, renewed.ca.fingerprint]).toEqual(['reused', first.ca.fingerprint]);
  });

  it('issues again when a --host is missing, keeping the names it had; a bad host name is INVALID_CONFIG', async () => {
    const dir = freshDir();
    await ensureDevTls({ dataDir: dir });
    const more = await ensureDevTls({ dataDir: dir, hosts: ['DB.Example.Internal', '10.1.2.3'] });
    expect(more.server.status).toBe('renewed');
    expect(more.server.reason).toBe('it does not cover db.example.internal, 10.1.2.3');
    expect(more.server.hosts).toEqual(['localhost', '127.0.0.1', '::1', 'db.example.internal', '10.1.2.3']);
    // `up` asks for the defaults only: the added names stay.
    const later = await ensureDevTls({ dataDir: dir });
    expect(later.server.status).toBe('reused');
    expect(new X509Certificate(await readFile(later.files.serverCert)).checkHost('db.example.internal')).toBe('db.example.internal');

    const error = await ensureDevTls({ dataDir: dir, hosts: ['not a host'] }).catch((e: unknown) => e);
    expect(isJeexDbError(error, 'INVALID_CONFIG')).toBe(true);
    expect((error as Error).message).toContain('"not a host"');
  });

  it('makes a new CA when ca.crt is gone, and then a server certificate signed by it', async () => {
    const dir = freshDir();
    const first = await ensureDevTls({ dataDir: dir });
    await unlink(first.files.caCert);
    const next = await ensureDevTls({ dataDir: dir });
    expect(next.ca.status).toBe('created');
    expect(next.server).toMatchObject({ status: 'renewed', reason: 'it was not signed by this CA' });
    const ca = new X509Certificate(await readFile(next.files.caCert));
    expect(new X509Certificate(await readFile(next.files.serverCert)).verify(ca.publicKey)).toBe(true);
  });
});

describe('installProvidedTls: real certificate files', () => {
  const make = async (hosts: string[], options: { days?: number } = {}) => {
    const ca = await createCertificateAuthority({ name: 'test production CA' });
    const server = await issueServerCertificate(ca, hosts, options);
    const dir = freshDir();
    const given = join(`${dir}-given`);
    await import('node:fs/promises').then((fs) => fs.mkdir(given, { recursive: true }));
    const files = { certFile: join(given, 'db.crt'), keyFile: join(given, 'db.key'), caFile: join(given, 'ca.crt') };
    await writeFile(files.certFile, server.certPem);
    await writeFile(files.keyFile, server.keyPem, { mode: 0o644 });
    await writeFile(files.caFile, ca.certPem);
    return { dir, files, server };
  };
  const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

  it('copies good files for the server (key 0600) and says how clients verify them', async () => {
    const { dir, files } = await make(['127.0.0.1', 'db.example.internal']);
    const result = await installProvidedTls({ dataDir: dir, ...files, localHost: '127.0.0.1' });
    expect(result.rootCert).toBe(join(dir, 'tls', 'provided', 'ca.crt'));
    expect(result.verifyHost).toBeUndefined();
    expect((await stat(result.keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(result.certFile, 'utf8')).toBe(await readFile(files.certFile, 'utf8'));
    expect(result.changed).toBe(true);
    expect((await installProvidedTls({ dataDir: dir, ...files, localHost: '127.0.0.1' })).changed).toBe(false);
  });

  it('a certificate for a DNS name only: clients connect to 127.0.0.1 and check that name (hostaddr)', async () => {
    const { dir, files } = await make(['db.example.internal']);
    const result = await installProvidedTls({ dataDir: dir, ...files, localHost: '127.0.0.1' });
    expect(result.verifyHost).toBe('db.example.internal');
  });

  it('refuses with TLS_CERT_INVALID: a key of another certificate, a CA that did not sign it, an unreadable file, none of our names', async () => {
    const one = await make(['127.0.0.1']);
    const other = await make(['127.0.0.1']);
    const cases = [
      { ...one.files, keyFile: other.files.keyFile },
      { ...one.files, caFile: other.files.caFile },
      { ...one.files, certFile: join(root, 'missing.crt') },
    ];
    for (const files of cases) {
      const error = await refusal(installProvidedTls({ dataDir: one.dir, ...files, localHost: '127.0.0.1' }));
      expect(isJeexDbError(error, 'TLS_CERT_INVALID'), String(error)).toBe(true);
    }
    const wildcard = await make(['*.example.internal']);
    const error = await refusal(installProvidedTls({ dataDir: wildcard.dir, ...wildcard.files, localHost: '127.0.0.1' }));
    expect(isJeexDbError(error, 'TLS_CERT_INVALID')).toBe(true);
    expect((error as Error).message).toContain('names neither 127.0.0.1 nor a DNS name');
  });

  it('warns about a certificate that ends within 30 days', async () => {
    const { dir, files } = await make(['127.0.0.1'], { days: 10 });
    const result = await installProvidedTls({ dataDir: dir, ...files, localHost: '127.0.0.1' });
    expect(result.warnings.join('\n')).toMatch(/within 30 days/);
  });
});
