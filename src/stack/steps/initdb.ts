import { initCluster } from '../../cluster/initdb.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Preflight } from './preflight.ts';
import type { Secrets } from './secrets.ts';

/**
 * A new cluster (initdb), the first time: SCRAM, UTF-8, data checksums, the superuser's password
 * from secrets.json. No undo: a cluster made by an `up` that fails later is kept, with its
 * passwords, and the next `up` starts it (`created: false`); initdb that fails says how to clean up.
 */
export const initdb: UpStep<UpContext & Pick<Preflight, 'bin' | 'as' | 'cluster' | 'status'> & Pick<Secrets, 'secrets'>, { created: boolean }> = {
  name: 'initdb',
  async run({ options, layout, progress, bin, as, cluster, status, secrets }) {
    if (status.running || cluster !== 'new') return { created: false };
    progress(`creating a PostgreSQL ${bin.version} cluster in ${layout.pgdata}`);
    await initCluster(bin, layout, { superuser: secrets.superuser.user, password: secrets.superuser.password, ...(options.locale ? { locale: options.locale } : {}) }, as);
    return { created: true };
  },
};
