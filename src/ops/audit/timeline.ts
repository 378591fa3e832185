import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { parseDuration } from '../../core/units.ts';
import { readChangeEvents } from './changes.ts';
import { DEFAULT_AUDIT_KINDS, type AuditEvent, type AuditKind } from './events.ts';
import { readLogEvents } from './log-reader.ts';

export interface AuditOptions {
  /** The server's log directory (JSON logs). Without it, only the audit table is read. */
  logDir?: string;
  /** A connection that may read jeex_audit.changes. Without it, only the log is read. */
  sql?: Sql;
  since?: Date;
  until?: Date;
  /** Default: failures, denied statements and changes. */
  kinds?: readonly AuditKind[];
  /** The newest this many events (default 200). Counts cover them all. */
  limit?: number;
}

export interface AuditResult {
  since?: string;
  until?: string;
  kinds: AuditKind[];
  /** Oldest first; the newest `limit` of them. */
  events: AuditEvent[];
  /** Events per kind in the time range (all of them, not only those listed). */
  counts: Partial<Record<AuditKind, number>>;
  /** More events matched than `limit`. */
  truncated: boolean;
  sources: { logFiles: string[]; unreadableLines: number; auditTable: 'read' | 'missing' | 'not-asked' };
  notes: string[];
}

/**
 * `--since`/`--until`: an ISO time, or a duration back from `now` (`1h`, `30min`, `7d`).
 *
 * @example
 * parseSince('1h', new Date('2026-01-01T12:00:00Z')) // 2026-01-01T11:00:00.000Z
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  // A plain number is not a duration here: `2026` is a year.
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new JeexDbError('INVALID_CONFIG', `"${text}" is neither a time nor a duration`, { hint: 'Use an ISO time (2026-01-31T12:00:00Z) or a duration back from now (30min, 1h, 7d).' });
  }
  return new Date(at);
}

/**
 * One timeline of what the audit knows: connection attempts and failures, denied statements and
 * statements (the server's JSON log), data changes (the audit table), with counts per kind.
 *
 * @example
 * const report = await auditTimeline({ logDir: '.jeex-db/log', sql, since: parseSince('1h') });
 * console.log(report.counts); // { failure: 2, denied: 1, change: 40 }
 */
export async function auditTimeline(options: AuditOptions): Promise<AuditResult> {
  const kinds = [...(options.kinds ?? DEFAULT_AUDIT_KINDS)];
  const limit = options.limit ?? 200;
  const notes: string[] = [];
  const range = { ...(options.since ? { since: options.since } : {}), ...(options.until ? { until: options.until } : {}) };
  const logKinds = kinds.filter((k) => k !== 'change');
  const log = options.logDir && logKinds.length > 0 ? await readLogEvents(options.logDir, { ...range, kinds: logKinds }) : undefined;
  if (!options.logDir && logKinds.length > 0) notes.push('no log directory: connections and denied statements are not shown (pass --log-dir)');
  if (log && log.files.length === 0) notes.push(`no JSON log in ${options.logDir ?? ''} for this time range (the server needs logging_collector = on and log_destination including 'jsonlog', see ops/postgresql.conf)`);

  let auditTable: AuditResult['sources']['auditTable'] = 'not-asked';
  let changes: AuditEvent[] = [];
  let changeTotal = 0;
  if (kinds.includes('change')) {
    if (!options.sql) notes.push('no database connection: data changes are not shown');
    else {
      const read = await readChangeEvents(options.sql, { ...range, limit });
      auditTable = read ? 'read' : 'missing';
      if (!read) notes.push('jeex_audit.changes does not exist: apply the migrations (`jeex-db migrate`)');
      changes = read?.events ?? [];
      changeTotal = read?.total ?? 0;
    }
  }

  const counts: Partial<Record<AuditKind, number>> = {};
  for (const kind of kinds) counts[kind] = 0;
  for (const event of log?.events ?? []) counts[event.kind] = (counts[event.kind] ?? 0) + 1;
  if (kinds.includes('change')) counts.change = changeTotal;
  const all = [...(log?.events ?? []), ...changes].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const total = (log?.events.length ?? 0) + changeTotal;
  return {
    ...(options.since ? { since: options.since.toISOString() } : {}),
    ...(options.until ? { until: options.until.toISOString() } : {}),
    kinds,
    events: all.slice(-limit),
    counts,
    truncated: total > limit,
    sources: { logFiles: log?.files ?? [], unreadableLines: log?.unreadable ?? 0, auditTable },
    notes,
  };
}
