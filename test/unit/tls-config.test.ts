import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clientTarget } from '../../src/db/client-tls.ts';
import { resolveDbConfig } from '../../src/db/config.ts';
import { isJeexDbError } from '../../src/core/errors.ts';
import { buildUrl } from '../../src/local/state.ts';
import { opsDir } from '../../src/stack/configure.ts';
import { resolveTlsPlan } from '../../src/ops/tls/config.ts';
import { renderPgHba, sslSettings } from '../../src/ops/tls/hba.ts';

const dir = await mkdtemp(join(tmpdir(), 'jeex-tls-config-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const caFile = join(dir, 'ca with space.crt');
await writeFile(caFile, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
};

describe('resolveTlsPlan: how up does TLS', () => {
  it('uses the development CA by default, real files from flags or JEEX_TLS_*, and nothing with --no-tls', () => {
    expect(resolveTlsPlan({}, {})).toEqual({ mode: 'dev-ca', production: false });
    expect(resolveTlsPlan({ enabled: false }, {})).toEqual({ mode: 'off', production: false });
    expect(resolveTlsPlan({}, { JEEX_TLS_CERT_FILE: '/etc/ssl/db.crt', JEEX_TLS_KEY_FILE: '/etc/ssl/db.key' })).toEqual({
      mode: 'files',
      certFile: '/etc/ssl/db.crt',
      keyFile: '/etc/ssl/db.key',
      production: false,
    });
    expect(resolveTlsPlan({ certFile: '/a.crt', keyFile: '/a.key', caFile: '/ca.crt' }, { JEEX_TLS_CERT_FILE: '/b.crt', JEEX_TLS_KEY_FILE: '/b.key' })).toMatchObject({
      certFile: '/a.crt',
      keyFile: '/a.key',
      caFile: '/ca.crt',
    });
  });

  it('in production (NODE_ENV=production or --production) refuses --no-tls and the development CA with TLS_REQUIRED', () => {
    for (const [input, env] of [
      [{}, { NODE_ENV: 'production' }],
      [{ production: true }, {}],
      [{ enabled: false, production: true }, {}],
      [{ enabled: false }, { NODE_ENV: 'production' }],
    ] as const) {
      const error = thrown(() => resolveTlsPlan(input, env));
      expect(isJeexDbError(error, 'TLS_REQUIRED'), String(error)).toBe(true);
      expect((error as { hint: string }).hint).toContain('JEEX_TLS_CERT_FILE');
    }
    expect(resolveTlsPlan({ production: true }, { JEEX_TLS_CERT_FILE: '/c', JEEX_TLS_KEY_FILE: '/k' })).toMatchObject({ mode: 'files', production: true });
  });

  it('reports every contradiction at once, naming the flag or variable', () => {
    const error = thrown(() => resolveTlsPlan({ enabled: false, certFile: '/c' }, { JEEX_TLS_CA_FILE: '/ca' }));
    expect(isJeexDbError(error, 'INVALID_CONFIG')).toBe(true);
    expect((error as { context: { problems: string[] } }).context.problems).toEqual([
      '--tls-cert is set but not its key: set --tls-key or JEEX_TLS_KEY_FILE too',
      '--no-tls contradicts --tls-cert: leave one out',
    ]);
    const caOnly = thrown(() => resolveTlsPlan({}, { JEEX_TLS_CA_FILE: '/ca' }));
    expect((caOnly as { context: { problems: string[] } }).context.problems).toEqual(['JEEX_TLS_CA_FILE is set without a certificate: it only goes with --tls-cert/--tls-key']);
  });
});

describe('pg_hba.conf and the server settings', () => {
  const template = readFileSync(join(opsDir, 'pg_hba.conf'), 'utf8');
  const rules = (text: string) =>
    text
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .map((l) => l.split(/\s+/));

  it('with TLS: the template as it is, every TCP rule after the hostnossl rejects', () => {
    const hba = rules(renderPgHba(template, { tls: true }));
    expect(hba).toEqual(rules(template));
    const tcp = hba.filter((r) => r[0] !== 'local');
    expect(tcp.slice(0, 2)).toEqual([
      ['hostnossl', 'all', 'all', '0.0.0.0/0', 'reject'],
      ['hostnossl', 'all', 'all', '::/0', 'reject'],
    ]);
  });

  it('with --no-tls: no hostnossl rejects, hostssl becomes host, and the file says TLS is off', () => {
    const text = renderPgHba(template, { tls: false });
    expect(text).toMatch(/^# Written by `jeex-db up --no-tls` from ops\/pg_hba.conf: TLS IS OFF/);
    const hba = rules(text);
    expect(hba.some((r) => r[0] === 'hostnossl' || r[0] === 'hostssl')).toBe(false);
    expect(hba).toContainEqual(['host', 'all', 'all', '127.0.0.1/32', 'scram-sha-256']);
    expect(hba.at(-1)).toEqual(['host', 'all', 'all', '::/0', 'reject']);
  });

  it('jeex-local.conf: the certificate, the key and TLS 1.3, or ssl = off', () => {
    expect(sslSettings({ certFile: "/d/it's/server.crt", keyFile: '/d/server.key' }).filter((l) => !l.startsWith('#'))).toEqual([
      'ssl = on',
      "ssl_cert_file = '/d/it''s/server.crt'",
      "ssl_key_file = '/d/server.key'",
      "ssl_min_protocol_version = 'TLSv1.3'",
    ]);
    expect(sslSettings(undefined).filter((l) => !l.startsWith('#'))).toEqual(['ssl = off']);
  });
});

describe('URLs: what a client needs to verify the server', () => {
  it('buildUrl carries sslmode=verify-full and the absolute sslrootcert, libpq style (and hostaddr for another name)', () => {
    const parts = { user: 'jeex_app', password: 'p/w', host: '127.0.0.1', port: 5418, database: 'jeex' };
    expect(buildUrl(parts)).toBe('postgres://jeex_app:p%2Fw@127.0.0.1:5418/jeex');
    expect(buildUrl({ ...parts, tls: { rootCert: '/srv/my db/tls/ca.crt' } })).toBe(
      'postgres://jeex_app:p%2Fw@127.0.0.1:5418/jeex?sslmode=verify-full&sslrootcert=/srv/my%20db/tls/ca.crt',
    );
    expect(buildUrl({ ...parts, tls: { rootCert: 'system', verifyHost: 'db.example.com' } })).toBe(
      'postgres://jeex_app:p%2Fw@db.example.com:5418/jeex?sslmode=verify-full&sslrootcert=system&hostaddr=127.0.0.1',
    );
  });

  it('clientTarget: verify-full reads the CA and checks the name (an IP as host, a DNS name as servername), TLS 1.3 at least, libpq-only parameters stripped', () => {
    const url = buildUrl({ user: 'u', password: 'p', host: '127.0.0.1', port: 5418, database: 'jeex', tls: { rootCert: caFile } });
    const target = clientTarget(`${url}&application_name=x&channel_binding=prefer`);
    expect(target.url).toBe('postgres://u:p@127.0.0.1:5418/jeex?application_name=x');
    expect(target.sslmode).toBe('verify-full');
    expect(target.ssl).toEqual({ ca: readFileSync(caFile, 'utf8'), rejectUnauthorized: true, minVersion: 'TLSv1.3', host: '127.0.0.1' });
    expect(clientTarget(`postgres://u@db.example.com/x?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`).ssl).toMatchObject({ servername: 'db.example.com' });
    // hostaddr: connect to the address, check the name.
    const viaAddr = clientTarget(buildUrl({ user: 'u', password: 'p', host: '127.0.0.1', port: 1, database: 'd', tls: { rootCert: 'system', verifyHost: 'db.example.com' } }));
    expect(viaAddr).toMatchObject({ hostaddr: '127.0.0.1', url: 'postgres://u:p@db.example.com:1/d', ssl: { servername: 'db.example.com', rejectUnauthorized: true } });
    expect(viaAddr.ssl).not.toHaveProperty('ca');
  });

  it('clientTarget: the other modes as libpq means them', () => {
    expect(clientTarget('postgres://u@h/d').ssl).toBe(false);
    expect(clientTarget('postgres://u@h/d?sslmode=disable').ssl).toBe(false);
    expect(clientTarget('postgres://u@h/d?sslmode=prefer').ssl).toBe('prefer');
    expect(clientTarget('postgres://u@h/d?sslmode=require').ssl).toEqual({ rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    expect(clientTarget('postgres://u@h/d?ssl=true').sslmode).toBe('require');
    // require with a root certificate file verifies the chain (libpq), not the name.
    const requireCa = clientTarget(`postgres://u@h/d?sslmode=require&sslrootcert=${encodeURIComponent(caFile)}`);
    expect(requireCa.sslmode).toBe('verify-ca');
    expect(requireCa.ssl).toMatchObject({ rejectUnauthorized: true, checkServerIdentity: expect.any(Function) as unknown });
    expect(clientTarget('postgres://u@h/d?sslrootcert=system')).toMatchObject({ sslmode: 'verify-full', ssl: { servername: 'h', rejectUnauthorized: true } });
    expect(clientTarget('postgres://u@h/d?sslmode=require&ssl_min_protocol_version=TLSv1.2&ssl_max_protocol_version=TLSv1.2').ssl).toMatchObject({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  });

  it('clientTarget: an unknown sslmode or protocol, or an unreadable sslrootcert, is INVALID_CONFIG naming it', () => {
    for (const url of ['postgres://u@h/d?sslmode=verify', 'postgres://u@h/d?sslmode=require&ssl_min_protocol_version=TLSv1.1', `postgres://u@h/d?sslmode=verify-full&sslrootcert=${join(dir, 'nope.crt')}`]) {
      const error = thrown(() => clientTarget(url));
      expect(isJeexDbError(error, 'INVALID_CONFIG'), url).toBe(true);
    }
    expect((thrown(() => clientTarget(`postgres://u@h/d?sslmode=verify-full&sslrootcert=${join(dir, 'nope.crt')}`)) as Error).message).toContain('nope.crt');
  });

  it('resolveDbConfig takes libpq PGSSLMODE / PGSSLROOTCERT for a URL that does not say', () => {
    const env = { JEEX_DB_DATA_DIR: dir, PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile };
    const fromEnv = new URL(resolveDbConfig({}, { ...env, DATABASE_URL: 'postgres://a:b@db:5432/x' }).url);
    expect([fromEnv.searchParams.get('sslmode'), fromEnv.searchParams.get('sslrootcert')]).toEqual(['verify-full', caFile]);
    const own = new URL(resolveDbConfig({}, { ...env, DATABASE_URL: 'postgres://a:b@db:5432/x?sslmode=disable' }).url);
    expect([own.searchParams.get('sslmode'), own.searchParams.get('sslrootcert')]).toEqual(['disable', caFile]);
    const pg = new URL(resolveDbConfig({}, { ...env, PGHOST: 'db', PGUSER: 'u' }).url);
    expect([pg.searchParams.get('sslmode'), pg.searchParams.get('sslrootcert')]).toEqual(['verify-full', caFile]);
  });
});
