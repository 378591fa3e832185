import { prepareServerTls, type ServerTlsSetup } from '../../ops/tls/server-tls.ts';
import type { UpContext, UpStep } from '../step.ts';
import { LOCAL_HOST } from '../up-types.ts';
import type { Preflight } from './preflight.ts';

export interface Tls {
  tls: ServerTlsSetup;
}

/**
 * The certificate files the TLS plan asks for: the development CA and its server certificate
 * (created or renewed) in `<data dir>/tls/`, or the real files checked and copied, or none
 * (--no-tls). Nothing to undo: the next `up` uses the same CA, so clients keep trusting it.
 */
export const tls: UpStep<UpContext & Pick<Preflight, 'tlsPlan' | 'as'>, Tls> = {
  name: 'tls',
  async run({ layout, progress, tlsPlan, as }) {
    const tls = await prepareServerTls(tlsPlan, { dataDir: layout.root, localHost: LOCAL_HOST, ...(as ? { as } : {}) });
    if (tls.report.status === 'on' && tls.report.ca?.status === 'created') progress(`created the development CA ${tls.report.ca.file} (clients verify the server with it)`);
    return { tls };
  },
};
