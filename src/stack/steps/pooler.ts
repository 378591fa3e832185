import { connect } from '../../db/connect.ts';
import { LOCAL_DATABASE, POOLER_ADMIN_USER } from '../../local/files.ts';
import { buildUrl, type LocalState } from '../../local/state.ts';
import { ensurePooler, POOLER_PORT_OFFSET, stopPoolerIn } from '../../ops/pooler/local.ts';
import { DEFAULT_IDLE_SESSION_TIMEOUT_MS } from '../../ops/roles/settings.ts';
import type { UpContext, UpStep } from '../step.ts';
import { LOCAL_HOST, type UpPooler } from '../up-types.ts';
import type { Configure } from './configure.ts';
import type { Preflight } from './preflight.ts';
import type { Ready } from './ready.ts';
import type { Secrets } from './secrets.ts';
import type { Tls } from './tls.ts';
import type { Replication } from './replication.ts';

export interface Pooler {
  pooler: UpPooler;
  /** What a service uses: through PgBouncer when it runs, else straight to PostgreSQL. */
  appUrl: string;
  /** This step started PgBouncer (it was not running). */
  poolerStartedHere: boolean;
  /** The PgBouncer that runs now, as state.json records it; undefined: none (`absent`, `disabled`). */
  running?: NonNullable<LocalState['pooler']>;
}

/**
 * PgBouncer in front of the cluster: started when not running, reloaded when its files changed,
 * left alone otherwise; without the binary, `absent` with what is missing and how to install it;
 * with --no-pooler, a running one is stopped (`disabled`). Undo: stop the PgBouncer this `up`
 * started; one that was running before keeps running (and one --no-pooler stopped stays stopped).
 */
export const pooler: UpStep<UpContext & Pick<Preflight, 'as' | 'port' | 'previous'> & Secrets & Tls & Pick<Configure, 'cpus'> & Pick<Ready, 'urls'> & Replication, Pooler> = {
  name: 'pooler',
  async run({ options, layout, progress, as, port, previous, secrets, roleSettings, tls, cpus, urls, standby, replication }) {
    if (options.pooler === false) {
      if (await stopPoolerIn(layout.pgbouncerDir)) progress('stopped PgBouncer (--no-pooler)');
      return { pooler: { status: 'disabled', reason: '--no-pooler: the app URL points straight at PostgreSQL' }, appUrl: urls.app, poolerStartedHere: false };
    }
    const admin = connect(urls.superuser, { max: 1, onnotice: () => {} });
    // PgBouncer presents the server's certificate to clients and verifies the server with the CA
    // (and its name, unless the certificate names another host than 127.0.0.1).
    const poolerTls = tls.files && tls.url ? { certFile: tls.files.certFile, keyFile: tls.files.keyFile, ...(tls.files.caFile ? { caFile: tls.files.caFile } : {}), verifyHostname: !tls.url.verifyHost } : undefined;
    // A standby's PgBouncer sends to the primary, as every PgBouncer of the pair does (`promote`
    // points them at the new one): what an application reaches through any of them can write.
    const primaryPort = standby && replication?.role === 'standby' ? replication.primary.port : undefined;
    if (primaryPort) progress(`PgBouncer sends to the primary on ${LOCAL_HOST}:${primaryPort} (this cluster is its standby)`);
    try {
      const result = await ensurePooler({
        dir: layout.pgbouncerDir,
        as,
        host: LOCAL_HOST,
        server: { port: primaryPort ?? port },
        admin,
        roles: [secrets.app.user, ...(secrets.readonly ? [secrets.readonly.user] : [])],
        console: secrets.pooler ?? { user: POOLER_ADMIN_USER, password: '' },
        // Clients idle longer than the roles' idle_session_timeout are closed by PgBouncer too.
        ...(roleSettings.idleSessionTimeoutMs !== DEFAULT_IDLE_SESSION_TIMEOUT_MS ? { overrides: { client_idle_timeout: String(Math.ceil(roleSettings.idleSessionTimeoutMs / 1000)) } } : {}),
        ...(poolerTls ? { tls: poolerTls, reloadTls: tls.changed } : {}),
        cpus,
        ...(previous?.pooler ? { previousPort: previous.pooler.port } : primaryPort ? { previousPort: port + POOLER_PORT_OFFSET } : {}),
        progress,
      });
      if (result.status === 'absent') {
        progress(result.reason);
        return { pooler: result, appUrl: urls.app, poolerStartedHere: false };
      }
      const running = { port: result.port, version: result.version, preparedStatements: result.preparedStatements };
      return {
        pooler: { status: result.status, ...running },
        appUrl: buildUrl({ ...secrets.app, host: LOCAL_HOST, port: result.port, database: LOCAL_DATABASE, ...(tls.url ? { tls: tls.url } : {}) }),
        poolerStartedHere: result.status === 'started',
        running,
      };
    } finally {
      await admin.end({ timeout: 2 });
    }
  },
  async undo({ layout }, { poolerStartedHere }) {
    if (poolerStartedHere) await stopPoolerIn(layout.pgbouncerDir);
  },
};
