import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JeexDbError } from '../../core/errors.ts';
import { connect } from '../../db/connect.ts';
import { readReplication, type ReplicationRole } from '../../local/replication.ts';
import { checkRejoin } from '../../ops/ha/rejoin.ts';
import { urlFor } from '../local-urls.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Preflight } from './preflight.ts';
import type { Secrets } from './secrets.ts';
import type { Tls } from './tls.ts';

export interface Replication {
  /** Whether the cluster starts (or runs) as a standby: standby.signal in pgdata. */
  standby: boolean;
  /** replication.json (absent: a primary on its own, or a standby made by hand). */
  replication: ReplicationRole | undefined;
}

/**
 * What the cluster is in a primary/standby pair, checked before it starts: a primary that a
 * promoted standby replaced (replication.json `superseded`) never starts again as a primary
 * (CLUSTER_SUPERSEDED: there would be two); a standby starts only when its WAL has not run past
 * its primary's timeline (STANDBY_DIVERGED otherwise, naming the re-seed). A primary that cannot
 * be reached is not waited for: the standby starts, and streams once it is back. Nothing to undo.
 */
export const replication: UpStep<UpContext & Pick<Preflight, 'status'> & Secrets & Tls, Replication> = {
  name: 'replication',
  async run({ layout, progress, notes, status, secrets, tls }) {
    const role = readReplication(layout);
    const standby = existsSync(join(layout.pgdata, 'standby.signal'));
    if (status.running) return { standby, replication: role };
    if (role?.role === 'superseded' && !standby) {
      throw new JeexDbError('CLUSTER_SUPERSEDED', `${layout.root} was the primary until the standby ${role.by.dataDir ?? `on ${role.by.host}:${role.by.port}`} was promoted (${role.at}, timeline ${role.timeline}): starting it would make a second primary`, {
        hint: `Make it a standby of the new primary: \`jeex-db standby --data-dir ${layout.root} --from ${role.by.dataDir ?? `postgres://...@${role.by.host}:${role.by.port}`} --reseed\` (or move ${layout.root} aside).`,
      });
    }
    if (!standby || role?.role !== 'standby') return { standby, replication: role };
    const primary = connect(urlFor(secrets.superuser, role.primary.port, 'postgres', tls.url), { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      await primary`SELECT 1`;
    } catch {
      notes.push(`the primary on ${role.primary.host}:${role.primary.port} does not answer: the standby starts without checking its timeline against it, and streams once it is back`);
      await primary.end({ timeout: 1 });
      return { standby, replication: role };
    }
    try {
      const from = role.primary.dataDir ?? `postgres://...@${role.primary.host}:${role.primary.port}`;
      const check = await checkRejoin(layout.pgdata, primary, {
        cluster: `the standby in ${layout.root}`,
        primary: `its primary on ${role.primary.host}:${role.primary.port}`,
        reseed: `jeex-db standby --data-dir ${layout.root} --from ${from} --reseed`,
      });
      progress(`standby of ${role.primary.host}:${role.primary.port}: ${check.reason}`);
      return { standby, replication: role };
    } finally {
      await primary.end({ timeout: 1 });
    }
  },
};
