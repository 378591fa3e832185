import type { UrlTls } from '../../local/state.ts';
import type { RunAs } from '../../platform/exec.ts';
import type { TlsPlan } from './config.ts';
import { ensureDevTls, type DevCertificate } from './dev-tls.ts';
import { installProvidedTls } from './provided-tls.ts';

/** TLS of the local cluster, as `up` reports it (`--json`: `tls`). */
export type UpTls =
  | {
      status: 'on';
      /** `dev-ca`: the local development CA (`<data dir>/tls/`); `files`: --tls-cert/--tls-key. */
      source: 'dev-ca' | 'files';
      minProtocol: 'TLSv1.3';
      /** What the URLs carry: clients verify the CA and the host name. */
      sslmode: 'verify-full';
      /** The CA file clients verify with (`sslrootcert`), or `system`. */
      rootCert: string;
      /** The name clients check, when not the address (URLs carry `hostaddr`). */
      verifyHost?: string;
      certificate: { file: string; fingerprint: string; notAfter: string; hosts: string[]; status?: DevCertificate['status']; reason?: string };
      ca?: { file: string; fingerprint: string; notAfter: string; status: DevCertificate['status'] };
    }
  | { status: 'off'; warning: string };

export interface ServerTlsSetup {
  report: UpTls;
  /** For postgresql.conf and PgBouncer; undefined: TLS off. */
  files?: { certFile: string; keyFile: string; caFile?: string };
  /** For the URLs; undefined: TLS off. */
  url?: UrlTls;
  /** Certificate files were written: a running server and PgBouncer must reload. */
  changed: boolean;
  notes: string[];
}

/** The loud part of `--no-tls`, on stderr and in the JSON result. */
export const NO_TLS_WARNING =
  'TLS is OFF (--no-tls): passwords stay SCRAM, but every query and row crosses TCP unencrypted and the client cannot tell it reached the right server. Leave out --no-tls to turn TLS back on.';

/**
 * Make the certificate files a plan asks for ready for the server: the development CA and its
 * server certificate (created or renewed), or the real files checked and copied, or nothing.
 *
 * @example
 * const tls = await prepareServerTls(resolveTlsPlan({}), { dataDir: layout.root, localHost: '127.0.0.1', as });
 */
export async function prepareServerTls(plan: TlsPlan, options: { dataDir: string; localHost: string; as?: RunAs; hosts?: string[] }): Promise<ServerTlsSetup> {
  if (plan.mode === 'off') return { report: { status: 'off', warning: NO_TLS_WARNING }, changed: false, notes: [] };
  if (plan.mode === 'dev-ca') {
    const dev = await ensureDevTls({ dataDir: options.dataDir, ...(options.hosts ? { hosts: options.hosts } : {}), ...(options.as ? { as: options.as } : {}) });
    const notes = [
      ...(dev.ca.status === 'renewed' ? [`the development CA was made again (${dev.ca.reason ?? ''}): clients must use the new ${dev.ca.file}`] : []),
      ...(dev.server.status === 'renewed' ? [`the server certificate was renewed: ${dev.server.reason ?? ''}`] : []),
    ];
    return {
      report: {
        status: 'on',
        source: 'dev-ca',
        minProtocol: 'TLSv1.3',
        sslmode: 'verify-full',
        rootCert: dev.ca.file,
        certificate: {
          file: dev.server.file,
          fingerprint: dev.server.fingerprint,
          notAfter: dev.server.notAfter,
          hosts: dev.server.hosts,
          status: dev.server.status,
          ...(dev.server.reason ? { reason: dev.server.reason } : {}),
        },
        ca: { file: dev.ca.file, fingerprint: dev.ca.fingerprint, notAfter: dev.ca.notAfter, status: dev.ca.status },
      },
      files: { certFile: dev.server.file, keyFile: dev.server.keyFile, caFile: dev.ca.file },
      url: { rootCert: dev.ca.file },
      changed: dev.changed,
      notes,
    };
  }
  const given = await installProvidedTls({
    dataDir: options.dataDir,
    certFile: plan.certFile,
    keyFile: plan.keyFile,
    ...(plan.caFile ? { caFile: plan.caFile } : {}),
    localHost: options.localHost,
    ...(options.as ? { as: options.as } : {}),
  });
  return {
    report: {
      status: 'on',
      source: 'files',
      minProtocol: 'TLSv1.3',
      sslmode: 'verify-full',
      rootCert: given.rootCert,
      ...(given.verifyHost ? { verifyHost: given.verifyHost } : {}),
      certificate: { file: plan.certFile, fingerprint: given.fingerprint, notAfter: given.notAfter, hosts: given.hosts },
    },
    files: { certFile: given.certFile, keyFile: given.keyFile, ...(given.caFile ? { caFile: given.caFile } : {}) },
    url: { rootCert: given.rootCert, ...(given.verifyHost ? { verifyHost: given.verifyHost } : {}) },
    changed: given.changed,
    notes: given.warnings,
  };
}
