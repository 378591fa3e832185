import { startServer, stopServer } from '../../cluster/pg-ctl.ts';
import type { UpContext, UpStep } from '../step.ts';
import { LOCAL_HOST } from '../up-types.ts';
import type { Preflight } from './preflight.ts';
import type { Tls } from './tls.ts';

/**
 * Start PostgreSQL (pg_ctl start) unless it is running already. Undo: stop the server this `up`
 * started (fast: sessions are ended); one that was running before is left running.
 */
export const start: UpStep<UpContext & Pick<Preflight, 'bin' | 'as' | 'status' | 'port'> & Tls, { serverStartedHere: boolean }> = {
  name: 'start',
  async run({ layout, progress, deadline, bin, as, status, port, tls }) {
    if (status.running) return { serverStartedHere: false };
    progress(`starting PostgreSQL on ${LOCAL_HOST}:${port}${tls.files ? ' (TLS 1.3 only)' : ' WITHOUT TLS'}`);
    await startServer(bin, layout, { timeoutSeconds: Math.max(1, (deadline - Date.now()) / 1000), host: LOCAL_HOST, port }, as);
    return { serverStartedHere: true };
  },
  async undo({ layout, bin, as }, { serverStartedHere }) {
    if (serverStartedHere) await stopServer(bin, layout, as, 'fast');
  },
};
