import { serverStatus } from '../cluster/pg-ctl.ts';
import { localLayout } from '../local/layout.ts';
import { upExternal } from './external.ts';
import { otherUrls } from './local-urls.ts';
import { StepRunner, type UpContext } from './step.ts';
import { configure } from './steps/configure.ts';
import { dataDir } from './steps/data-dir.ts';
import { initdb } from './steps/initdb.ts';
import { migrate } from './steps/migrate.ts';
import { poolerCheck } from './steps/pooler-check.ts';
import { pooler } from './steps/pooler.ts';
import { preflight } from './steps/preflight.ts';
import { ready } from './steps/ready.ts';
import { replication } from './steps/replication.ts';
import { roles } from './steps/roles.ts';
import { secrets } from './steps/secrets.ts';
import { start } from './steps/start.ts';
import { tls } from './steps/tls.ts';
import { walArchive, walArchiveNotes } from './steps/wal-archive.ts';
import { LOCAL_HOST, type UpOptions, type UpReplication, type UpResult, type UpWalArchive } from './up-types.ts';
import type { ReplicationRole } from '../local/replication.ts';

export { DEFAULT_PORT, LOCAL_HOST, MIN_SERVER_VERSION_NUM, type UpMigrations, type UpOptions, type UpPooler, type UpReplication, type UpResult, type UpWalArchive } from './up-types.ts';
export { down, type DownResult } from './down.ts';
export { whenProcessExits as whenServerExits } from '../platform/process-alive.ts';
export type { LocalLayout } from '../local/layout.ts';
export type { PgBinaries } from '../cluster/binaries.ts';
export type { RunAs } from '../platform/exec.ts';

/**
 * Bring up a migrated PostgreSQL 18: with `databaseUrl`, migrate that server; otherwise create
 * (first time) and start the local cluster in the data directory, create the roles and the
 * database, apply the migrations, put PgBouncer in front. The server keeps running after this
 * returns; stop it with `down()`.
 *
 * The local stack comes up in steps (src/stack/steps/, one file each, in the order below). When a
 * step fails, the steps done are undone, the last first: the PgBouncer and the PostgreSQL this
 * call started are stopped again; what was running before stays running, and a cluster this call
 * created is kept (with secrets.json and state.json), for the next `up` to start.
 *
 * @example
 * const result = await up({ dataDir: '.jeex-db' });
 * console.log(result.urls.app);
 */
export async function up(options: UpOptions = {}): Promise<UpResult> {
  return options.databaseUrl ? upExternal(options.databaseUrl, options) : upLocal(options);
}

/** A standby archives nothing while it replays (archive_mode = on archives only on a primary); after `promote` it archives here. */
function standbyWalArchive(dir: string): UpWalArchive {
  return { dir, status: 'standby', archiveMode: 'on', archiveLibrary: 'basic_archive', archiveTimeout: '' };
}

function replicationReport(standby: boolean, role: ReplicationRole | undefined): UpReplication {
  if (standby) return { role: 'standby', ...(role?.role === 'standby' ? { primary: role.primary, name: role.name, slot: role.slot, sync: role.sync } : {}) };
  return { role: 'primary', ...(role?.role === 'primary' ? { promotedAt: role.promotedAt, timeline: role.timeline } : {}) };
}

async function upLocal(options: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const timeoutSeconds = options.startTimeoutSeconds ?? 60;
  const base: UpContext = {
    options,
    layout: localLayout(options.dataDir, options.cwd),
    progress: options.onProgress ?? (() => {}),
    notes: [],
    timeoutSeconds,
    deadline: started + timeoutSeconds * 1000,
  };
  const steps = new StepRunner();
  try {
    // Each step reads what it needs from the context so far and adds its own result to it.
    const c1 = { ...base, ...(await steps.run(preflight, base)) };
    const c2 = { ...c1, ...(await steps.run(dataDir, c1)) };
    const c3 = { ...c2, ...(await steps.run(secrets, c2)) };
    const c4 = { ...c3, ...(await steps.run(tls, c3)) };
    const c5 = { ...c4, ...(await steps.run(initdb, c4)) };
    const c6 = { ...c5, ...(await steps.run(configure, c5)) };
    const c6r = { ...c6, ...(await steps.run(replication, c6)) };
    const c7 = { ...c6r, ...(await steps.run(start, c6r)) };
    const c8 = { ...c7, ...(await steps.run(ready, c7)) };
    // A standby is read-only: its roles, schema and WAL archive are the primary's, which it replays.
    const c9 = { ...c8, ...(c8.standby ? { walArchive: standbyWalArchive(c8.repo.wal) } : await steps.run(walArchive, c8)) };
    const c10 = { ...c9, ...(c9.standby ? { roleWarnings: [] } : await steps.run(roles, c9)) };
    const c11 = { ...c10, ...(c10.standby ? { migrations: { applied: [], adopted: [], total: 0, warnings: [] } } : await steps.run(migrate, c10)) };
    const ctx = { ...c11, ...(await steps.run(pooler, c11)) };
    await steps.run(poolerCheck, ctx);

    const notes = [...ctx.notes, ...ctx.tls.notes, ...walArchiveNotes(ctx.walArchive), ...ctx.roleWarnings];
    for (const line of notes) ctx.progress(line);
    const after = await serverStatus(ctx.bin, ctx.layout, ctx.as);
    const { layout, port, urls } = ctx;
    return {
      mode: 'embedded',
      status: ctx.serverStartedHere ? 'started' : 'already-running',
      created: ctx.created,
      urls: { app: ctx.appUrl, appDirect: urls.app, migrator: urls.migrator, superuser: urls.superuser, ...otherUrls(ctx.secrets, port, ctx.tls.url) },
      pooler: ctx.pooler,
      serverVersion: ctx.serverVersion,
      migrations: ctx.migrations,
      durationMs: Date.now() - started,
      dataDir: layout.root,
      pgdata: layout.pgdata,
      serverLog: layout.serverLog,
      secretsFile: layout.secretsFile,
      host: LOCAL_HOST,
      port,
      ports: { postgres: port, ...(ctx.pooler.port ? { pgbouncer: ctx.pooler.port } : {}) },
      ...(after.pid ? { pid: after.pid } : {}),
      ...(ctx.settings ? { settings: ctx.settings } : {}),
      walArchive: ctx.walArchive,
      ...(notes.length ? { notes } : {}),
      tls: ctx.tls.report,
      ...(ctx.standby || ctx.replication ? { replication: replicationReport(ctx.standby, ctx.replication) } : {}),
    };
  } catch (error) {
    // A failed `up` leaves things as they were: what this call started is stopped again. An undo
    // that fails too is not reported over the error that made `up` fail.
    await steps.undoDone();
    throw error;
  }
}
