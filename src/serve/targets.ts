import { JeexDbError } from '../core/errors.ts';
import { localLayout } from '../local/layout.ts';
import { localUrl, readLocalState } from '../local/state.ts';
import { defaultRepo, type BackupRepo } from '../ops/backup/repo.ts';
import { resolveHealthTarget, type HealthTarget } from '../ops/health/target.ts';

export interface ServeTargetInput {
  /** The monitoring connection; default JEEX_DB_MONITOR_URL, DATABASE_URL, then the local cluster's monitoring role. */
  url?: string;
  /** The application's path, probed by /readyz; default the local cluster's app URL (through PgBouncer). */
  appUrl?: string;
  /** PgBouncer's admin console (--pooler-url, JEEX_DB_POOLER_CONSOLE_URL); default the local cluster's. */
  poolerUrl?: string;
  /** Where the local cluster lives. */
  dataDir: string;
  /** With a schedule, the local cluster is backed up: `backups` is resolved (or refused). */
  backupSchedule?: string;
}

export interface ServeTargets {
  /** The monitoring connection (direct). */
  monitorUrl: string;
  /** The application's path (its URL through PgBouncer when there is one); undefined: createDb() resolves it. */
  appUrl?: string;
  poolerConsoleUrl?: string;
  /** The app's path is the local cluster's PgBouncer (urls.app): createDb is told so (its errors name PgBouncer, no named statements before 1.21). */
  appThroughPooler?: boolean;
  /** The local cluster's PgBouncer, supervised while serve runs. */
  localPooler?: { dir: string };
  /** The local cluster's disks and backup repository, for its health checks. */
  localChecks?: HealthTarget['localChecks'];
  /** With a backup schedule: the local cluster to back up (its backup role on the app database) and its repository. */
  backups?: { url: string; dataDir: string; repo: BackupRepo };
}

/**
 * The URLs `jeex-db serve` uses: the monitoring connection (`url`, JEEX_DB_MONITOR_URL,
 * DATABASE_URL, else the local cluster as its monitoring role), the application's path (`appUrl`
 * or the local cluster's app URL), the local PgBouncer to supervise, and with `backupSchedule`
 * the local cluster to back up (INVALID_CONFIG when there is none, or the monitor is elsewhere).
 *
 * @example
 * const targets = resolveServeTargets({ dataDir: '.jeex-db' });
 * await serveUntil({ port: 7418, host: '127.0.0.1', migrations: true, alerts: true, alertInterval: 15, logger }, targets, stopped, console.log);
 */
export function resolveServeTargets(input: ServeTargetInput): ServeTargets {
  const target = resolveHealthTarget({ ...(input.url ? { url: input.url } : {}), dataDir: input.dataDir });
  const layout = localLayout(input.dataDir);
  const localApp = target.source === 'local' ? localUrl(layout, 'app') : undefined;
  const appUrl = input.appUrl ?? localApp;
  const pooled = target.source === 'local' && Boolean(readLocalState(layout)?.pooler);
  const backups = input.backupSchedule ? backupTarget(input.dataDir, target.source) : undefined;
  return {
    monitorUrl: target.url,
    ...(appUrl ? { appUrl } : {}),
    ...(pooled && !input.appUrl ? { appThroughPooler: true } : {}),
    ...(pooled ? { localPooler: { dir: layout.pgbouncerDir } } : {}),
    ...(input.poolerUrl || target.poolerConsoleUrl ? { poolerConsoleUrl: input.poolerUrl ?? target.poolerConsoleUrl } : {}),
    ...(backups ? { backups } : {}),
    ...(target.localChecks ? { localChecks: target.localChecks } : {}),
  };
}

/** Scheduled backups copy the local cluster's data directory, so they need it and a monitor on it. */
function backupTarget(dataDir: string, source: string): NonNullable<ServeTargets['backups']> {
  const layout = localLayout(dataDir);
  const state = readLocalState(layout);
  const url = state ? (localUrl(layout, 'backup', { database: state.database }) ?? localUrl(layout, 'superuser', { database: state.database })) : undefined;
  if (source !== 'local' || !url) {
    const why = source !== 'local' ? `the monitoring connection comes from ${source === 'flag' ? '--url' : source}, not from the local cluster` : `there is no local cluster in ${layout.root}`;
    throw new JeexDbError('INVALID_CONFIG', `--backup-schedule backs up the local cluster of --data-dir, and ${why}.`, {
      hint: source !== 'local'
        ? `Run \`jeex-db serve --backup-schedule ...\` without --url (unset JEEX_DB_MONITOR_URL and DATABASE_URL for it) on the machine of the cluster, or schedule \`jeex-db backup\` and \`jeex-db verify\` with cron for another server.`
        : 'Start it with `jeex-db up` (or point --data-dir at it), or drop --backup-schedule.',
      context: { dataDir: layout.root },
    });
  }
  return { url, dataDir, repo: defaultRepo(layout) };
}
