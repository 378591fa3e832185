import { startTimeout } from '../../cluster/pg-ctl.ts';
import { waitUntilReady } from '../../cluster/ready.ts';
import { JeexDbError } from '../../core/errors.ts';
import { LOCAL_DATABASE, LOCAL_ROLES, writeLocalState } from '../../local/files.ts';
import type { LocalState } from '../../local/state.ts';
import { readLogSince, relevantLines } from '../../platform/log-file.ts';
import { localUrls } from '../local-urls.ts';
import type { UpContext, UpStep } from '../step.ts';
import { LOCAL_HOST } from '../up-types.ts';
import type { Configure } from './configure.ts';
import type { Preflight } from './preflight.ts';
import type { Secrets } from './secrets.ts';
import type { Tls } from './tls.ts';

export interface Ready {
  /** What state.json now says (without the pooler: the pooler step adds it). */
  state: LocalState;
  /** The URLs `up` connects with, straight to PostgreSQL. */
  urls: { app: string; migrator: string; superuser: string };
  serverVersion: string;
}

/**
 * Write state.json (the port, the roles, their settings, how clients verify TLS), then wait until
 * the server answers the superuser: a timeout quotes the server log of this start, a refused
 * password names secrets.json. Nothing to undo: state.json describes the cluster, running or not.
 */
export const ready: UpStep<UpContext & Pick<Preflight, 'bin' | 'port'> & Secrets & Tls & Pick<Configure, 'logStart'>, Ready> = {
  name: 'ready',
  async run({ layout, timeoutSeconds, deadline, bin, port, secrets, roleSettings, tls, logStart }) {
    const state: LocalState = {
      version: 1,
      pgMajor: bin.major,
      host: LOCAL_HOST,
      port,
      database: LOCAL_DATABASE,
      roles: { ...LOCAL_ROLES },
      roleSettings: { idleSessionTimeoutMs: roleSettings.idleSessionTimeoutMs, idleInTransactionTimeoutMs: roleSettings.idleInTransactionTimeoutMs, auditReads: roleSettings.auditReads },
      ...(tls.url ? { tls: tls.url } : {}),
    };
    await writeLocalState(layout, state);
    const urls = localUrls(secrets, port, tls.url);
    const answered = await waitUntilReady(urls.superuser, deadline).catch(async (error: unknown) => {
      if (error instanceof JeexDbError && error.code === 'SERVER_START_TIMEOUT') {
        throw startTimeout(timeoutSeconds, layout, relevantLines(await readLogSince(layout.serverLog, logStart)));
      }
      if (error instanceof JeexDbError && error.code === 'AUTHENTICATION_FAILED') {
        // The cluster was made with the passwords in secrets.json: this one was changed since.
        throw new JeexDbError('AUTHENTICATION_FAILED', `the cluster refuses the superuser password in ${layout.secretsFile} (${error.message})`, {
          hint: 'secrets.json was edited or damaged: restore it from a copy; without one, see "Recovering secrets.json" in docs/local-cluster.md.',
          cause: error,
          context: { file: layout.secretsFile },
        });
      }
      throw error;
    });
    return { state, urls, serverVersion: answered.version };
  },
};
