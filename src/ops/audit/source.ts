import { JeexDbError } from '../../core/errors.ts';
import { localLayout } from '../../local/layout.ts';
import { localUrl, readLocalState } from '../../local/state.ts';

export interface AuditSourceInput {
  /** The local cluster: its log directory and its database as superuser. */
  dataDir: string;
  /** Another server: a URL that may read jeex_audit.changes (default JEEX_DB_ADMIN_URL). */
  url?: string;
  /** The server's log directory with its *.json logs (default: the local cluster's). */
  logDir?: string;
}

/**
 * Where `auditTimeline` reads from: `url` (or JEEX_DB_ADMIN_URL) and `logDir`, else the local
 * cluster of `dataDir` (its superuser URL and log directory). CONNECTION_FAILED when that leaves
 * neither a database nor a log directory.
 *
 * @example
 * const { url, logDir } = resolveAuditSource({ dataDir: '.jeex-db' });
 */
export function resolveAuditSource(input: AuditSourceInput, env: NodeJS.ProcessEnv = process.env): { url?: string; logDir?: string } {
  const layout = localLayout(input.dataDir);
  const given = input.url ?? env.JEEX_DB_ADMIN_URL;
  const state = given ? undefined : readLocalState(layout);
  const url = given ?? (state ? localUrl(layout, 'superuser', { database: state.database }) : undefined);
  const logDir = input.logDir ?? (state ? layout.logDir : undefined);
  if (!url && !logDir) {
    throw new JeexDbError('CONNECTION_FAILED', `no local cluster in ${layout.root}, and no --url or --log-dir`, {
      hint: 'Run it next to a cluster started by `jeex-db up` (or pass --data-dir), or pass --url and --log-dir for another server.',
    });
  }
  return { ...(url ? { url } : {}), ...(logDir ? { logDir } : {}) };
}
