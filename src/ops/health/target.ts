import { existsSync } from 'node:fs';
import { JeexDbError } from '../../core/errors.ts';
import { defaultRepo, type BackupRepo } from '../backup/repo.ts';
import type { HealthDisks } from './disk-checks.ts';
import { localLayout, resolveDataDir } from '../../local/layout.ts';
import { buildUrl, localUrl, readLocalSecrets, readLocalState } from '../../local/state.ts';

/** The database `jeex-db health`, `serve` and `diagnose` look at, and where that came from. */
export interface HealthTarget {
  url: string;
  source: 'flag' | 'JEEX_DB_MONITOR_URL' | 'DATABASE_URL' | 'local';
  /** The local PgBouncer's admin console, when `jeex-db up` runs one. */
  poolerConsoleUrl?: string;
  /**
   * The local cluster's own checks (checkHealth options): the free space under its data directory
   * and its WAL archive, and its repository's newest verified backup.
   */
  localChecks?: { disks: HealthDisks; backupRepo: BackupRepo };
}

/**
 * Which database `jeex-db health`, `serve` and `diagnose` look at: `url` (--url), else
 * `JEEX_DB_MONITOR_URL`, else `DATABASE_URL`, else the local cluster on its app database as its
 * monitoring role (pg_monitor; `localRole: 'superuser'` for diagnose, which reads the tables'
 * statistics and explains their statements), the superuser for a secrets.json older than that
 * role (with its PgBouncer's admin console when there is one). CONNECTION_FAILED (exit 17,
 * not 2, which `health` uses for "fail") when there is none of them.
 *
 * @example
 * resolveHealthTarget({ dataDir: '.jeex-db' }, process.env); // { url, source: 'local', poolerConsoleUrl }
 */
export function resolveHealthTarget(flags: { url?: string; dataDir?: string; localRole?: 'monitor' | 'superuser' }, env: NodeJS.ProcessEnv = process.env): HealthTarget {
  if (flags.url) return { url: flags.url, source: 'flag' };
  if (env.JEEX_DB_MONITOR_URL) return { url: env.JEEX_DB_MONITOR_URL, source: 'JEEX_DB_MONITOR_URL' };
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL' };
  const layout = localLayout(resolveDataDir(flags.dataDir, env));
  const state = readLocalState(layout);
  const monitor = state && (flags.localRole ?? 'monitor') === 'monitor' ? localUrl(layout, 'monitor', { database: state.database }) : undefined;
  const url = monitor ?? (state ? localUrl(layout, 'superuser', { database: state.database }) : undefined);
  if (!state || !url) {
    throw new JeexDbError('CONNECTION_FAILED', `no database to check: no --url, JEEX_DB_MONITOR_URL or DATABASE_URL, and no local cluster in ${layout.root}`, {
      hint: 'Pass --url postgres://..., set JEEX_DB_MONITOR_URL, or start the local cluster with `jeex-db up` (or point --data-dir at it).',
    });
  }
  const secrets = readLocalSecrets(layout);
  const console = state.pooler && secrets?.pooler;
  const repo = defaultRepo(layout);
  const disks: HealthDisks = { dataDir: layout.pgdata, ...(existsSync(repo.wal) ? { archiveDir: repo.wal } : {}) };
  return {
    url,
    source: 'local',
    localChecks: { disks, backupRepo: repo },
    ...(state.pooler && console
      ? { poolerConsoleUrl: buildUrl({ user: console.user, password: console.password, host: state.host, port: state.pooler.port, database: 'pgbouncer', ...(state.tls ? { tls: state.tls } : {}) }) }
      : {}),
  };
}
