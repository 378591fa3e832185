import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { armArchiveTimeout } from '../cluster/archive-timeout.ts';
import { findBinaries } from '../cluster/binaries.ts';
import { promoteServer, serverStatus } from '../cluster/pg-ctl.ts';
import { JeexDbError } from '../core/errors.ts';
import { localLayout } from '../local/layout.ts';
import { readReplication, writeReplication, type PrimaryRef } from '../local/replication.ts';
import { localUrl, readLocalState } from '../local/state.ts';
import type { Sql } from 'postgres';
import { readServerPosition, type PrimaryPosition } from '../ops/ha/primary-history.ts';
import { removeStandbyFiles } from '../ops/ha/standby-config.ts';
import { repointPooler, type RepointResult } from '../ops/pooler/repoint.ts';
import { serverOsUser } from '../platform/os-user.ts';
import { withSuperuser } from './steps/superuser.ts';
import { LOCAL_HOST } from './up-types.ts';

export interface PromoteOptions {
  /** The standby's data directory. */
  dataDir: string;
  /**
   * Data directories whose PgBouncer is pointed at the promoted server (`[databases]` rewritten,
   * RELOAD). Default: its own (a standby's PgBouncer sends to the primary) and the former
   * primary's (from replication.json).
   */
  repoint?: string[];
  /** How long promotion may take (default 60 s). */
  timeoutSeconds?: number;
  osUser?: string;
  cwd?: string;
  onProgress?: (message: string) => void;
}

export interface PromoteResult {
  dataDir: string;
  port: number;
  /** The new timeline and the WAL position right after promotion. */
  timeline: number;
  lsn: string;
  /** pg_ctl promote until the server accepted writes. */
  promoteMs: number;
  /** The PgBouncers pointed at it. */
  repointed: ({ dir: string } & RepointResult)[];
  /** The former primary, now marked superseded: `up` refuses to start it as a primary. */
  formerPrimary?: PrimaryRef;
  notes: string[];
  durationMs: number;
}

/**
 * Promote the local standby in `dataDir` to primary: `pg_ctl promote` (waits until it accepts
 * writes), archive_timeout armed, synchronous replication turned off when it has no standby of its
 * own (every commit would wait forever), the standby's settings removed, the former primary marked
 * `superseded` (its `up` refuses: two primaries), and the PgBouncers in front of the old primary
 * pointed here. Prints the new timeline and LSN.
 *
 * @example
 * const r = await promote({ dataDir: '.jeex-db-b' });
 * r.timeline; // 2
 */
export async function promote(options: PromoteOptions): Promise<PromoteResult> {
  const began = Date.now();
  const progress = options.onProgress ?? (() => {});
  const notes: string[] = [];
  const layout = localLayout(options.dataDir, options.cwd);
  const state = readLocalState(layout);
  const url = localUrl(layout, 'superuser', { database: 'postgres' });
  if (!state || !url) throw new JeexDbError('PROMOTE_FAILED', `no local cluster in ${layout.root}`, { hint: 'Pass the standby\'s --data-dir.' });
  const bin = await findBinaries();
  const as = await serverOsUser(options.osUser);
  const status = await serverStatus(bin, layout, as);
  if (!status.running) {
    throw new JeexDbError('PROMOTE_FAILED', `the standby in ${layout.root} is not running`, { hint: `Start it first (\`jeex-db up --data-dir ${layout.root}\`): only a running standby can be promoted.` });
  }
  const role = readReplication(layout);
  progress(`promoting ${layout.root}`);
  const promoteStarted = performance.now();
  if (!(await promoteServer(bin, layout, as, options.timeoutSeconds ?? 60))) {
    throw new JeexDbError('PROMOTE_FAILED', `${layout.root} is not a standby (it is a primary already)`, { hint: '`jeex-db health` there shows postgresql:recovery.' });
  }
  const promoteMs = performance.now() - promoteStarted;

  const position = await withSuperuser(url, (sql) => settleAsPrimary(sql, layout.root, notes), { connectTimeoutSeconds: 10 });
  await removeStandbyFiles(layout);
  const formerPrimary = role?.role === 'standby' ? role.primary : undefined;
  const at = new Date().toISOString();
  await writeReplication(layout, { role: 'primary', promotedAt: at, timeline: position.timeline, lsn: position.lsn, ...(formerPrimary ? { formerPrimary } : {}) });
  const self = { host: LOCAL_HOST, port: state.port, dataDir: layout.root };
  if (formerPrimary?.dataDir && existsSync(formerPrimary.dataDir)) {
    await writeReplication(localLayout(formerPrimary.dataDir), { role: 'superseded', by: self, at, timeline: position.timeline, lsn: position.lsn });
  }
  const repointed: PromoteResult['repointed'] = [];
  // Its own PgBouncer sent to the old primary (a standby's does); the former primary's is the application's.
  for (const dir of options.repoint ?? [layout.root, ...(formerPrimary?.dataDir ? [formerPrimary.dataDir] : [])]) {
    const pgbouncerDir = localLayout(dir).pgbouncerDir;
    if (!existsSync(join(pgbouncerDir, 'pgbouncer.ini'))) continue;
    const result = await repointPooler(pgbouncerDir, { host: LOCAL_HOST, port: state.port });
    progress(`PgBouncer of ${dir}: ${result.status === 'reloaded' ? 'now sends to' : 'will send to'} ${LOCAL_HOST}:${state.port}`);
    repointed.push({ dir: localLayout(dir).root, ...result });
  }
  return {
    dataDir: layout.root,
    port: state.port,
    timeline: position.timeline,
    lsn: position.lsn,
    promoteMs,
    repointed,
    ...(formerPrimary ? { formerPrimary } : {}),
    notes,
    durationMs: Date.now() - began,
  };
}

/**
 * Right after promotion: where it stands (timeline, LSN), archive_timeout armed, and a
 * synchronous_standby_names inherited from the old primary reset when this server has no standby
 * of its own (every commit would wait forever).
 */
async function settleAsPrimary(sql: Sql, dataDir: string, notes: string[]): Promise<PrimaryPosition> {
  const where = await readServerPosition(sql);
  await armArchiveTimeout(sql);
  const [sync] = await sql<{ names: string; standbys: number }[]>`
    SELECT current_setting('synchronous_standby_names') AS names, (SELECT count(*)::int FROM pg_stat_replication) AS standbys`;
  if (sync?.names && sync.standbys === 0) {
    await sql`ALTER SYSTEM RESET synchronous_standby_names`;
    await sql`SELECT pg_reload_conf()`;
    notes.push(`synchronous_standby_names was "${sync.names}" (the old primary's) and this server has no standby yet: reset, so commits do not wait forever. Add a standby with \`jeex-db standby --from ${dataDir} --sync\` to have synchronous replication again.`);
  }
  return where;
}
