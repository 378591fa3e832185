import { chown, cp, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { LocalLayout } from '../../local/layout.ts';
import type { LocalState, UrlTls } from '../../local/state.ts';
import { parseBoolean } from '../../core/units.ts';
import type { RunAs } from '../../platform/exec.ts';
import { ensureDevTls } from '../tls/dev-tls.ts';
import { tlsFiles } from '../tls/files.ts';

export interface RestoredTls {
  certFile: string;
  keyFile: string;
  /** How clients verify the restored server (for its URLs and state.json). */
  url: UrlTls;
}

/** A `name = 'value'` setting of a postgresql.conf file (the last one wins, as in the server). */
function setting(text: string, name: string): string | undefined {
  let value: string | undefined;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^\\s*${name}\\s*=\\s*'((?:[^']|'')*)'|^\\s*${name}\\s*=\\s*(\\S+)`).exec(line.replace(/#.*$/, ''));
    if (match) value = (match[1] ?? match[2] ?? '').replaceAll("''", "'");
  }
  return value;
}

/**
 * The TLS files a restored cluster serves with. The backup holds the source's pg_hba.conf (TLS
 * only) and jeex-local.conf, whose certificate paths point into the source's data directory, which
 * may be gone (that is often why one restores). So the source's `tls/` is copied into the new
 * directory when it is there, with its CA (clients keep trusting the same ca.crt); otherwise the
 * restored cluster gets a development CA of its own. Undefined when the source ran without TLS.
 *
 * @example
 * const tls = await restoredTls(layout, '.jeex-db', as); // then ssl_cert_file = tls.certFile, ...
 */
export async function restoredTls(layout: LocalLayout, sourceDataDir: string | undefined, as?: RunAs): Promise<RestoredTls | undefined> {
  const local = await readFile(join(layout.pgdata, 'jeex-local.conf'), 'utf8').catch(() => '');
  if (parseBoolean(setting(local, 'ssl') ?? 'off') !== true) return undefined;
  const target = tlsFiles(layout.root);
  if (sourceDataDir) {
    const source = tlsFiles(sourceDataDir);
    const state = await readFile(join(sourceDataDir, 'state.json'), 'utf8')
      .then((text) => JSON.parse(text) as LocalState)
      .catch(() => undefined);
    const certFile = setting(local, 'ssl_cert_file');
    const keyFile = setting(local, 'ssl_key_file');
    const moved = (path: string) => {
      const rest = relative(source.dir, path);
      return rest.startsWith('..') || rest.startsWith(sep) ? path : join(target.dir, rest);
    };
    if (certFile && keyFile && state?.tls && (await exists(source.dir))) {
      await cp(source.dir, target.dir, { recursive: true });
      const restoredKey = moved(keyFile);
      // PostgreSQL reads the key as its OS user and refuses one others can read.
      if (as) for (const file of [moved(certFile), restoredKey]) await chown(file, as.uid, as.gid).catch(() => undefined);
      return {
        certFile: moved(certFile),
        keyFile: restoredKey,
        url: { rootCert: state.tls.rootCert === 'system' ? 'system' : moved(state.tls.rootCert), ...(state.tls.verifyHost ? { verifyHost: state.tls.verifyHost } : {}) },
      };
    }
  }
  const dev = await ensureDevTls({ dataDir: layout.root, ...(as ? { as } : {}) });
  return { certFile: dev.server.file, keyFile: dev.server.keyFile, url: { rootCert: dev.ca.file } };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
