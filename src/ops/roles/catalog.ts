import type { RoleKind, RoleSet } from './names.ts';
import { formatDuration } from '../../core/units.ts';
import type { RoleSettings } from './settings.ts';

/** What one role is: its attributes, role settings, memberships and limit. */
export interface RoleSpec {
  kind: RoleKind;
  name: string;
  /** One line for `roles apply` output and docs/roles-and-audit.md. */
  purpose: string;
  login: boolean;
  /** REPLICATION: streaming base backups (pg_basebackup) and WAL. */
  replication: boolean;
  /** CONNECTION LIMIT (-1: none). */
  connectionLimit: number;
  /**
   * Role settings (`ALTER ROLE ... SET`), written as PostgreSQL stores them. A setting of
   * MANAGED_SETTINGS that is not listed here is RESET.
   */
  settings: Record<string, string>;
  /** Roles this one is a member of. `inherit: false`: only through SET ROLE. */
  memberOf: { role: string; inherit: boolean }[];
}

/** The role settings `roles apply` owns; others (set by hand) are left alone. */
export const MANAGED_SETTINGS = [
  'role',
  'statement_timeout',
  'lock_timeout',
  'idle_session_timeout',
  'idle_in_transaction_session_timeout',
  'log_statement',
] as const;

/**
 * Connections the app role leaves to the others: at least the slots it may not take anyway, the
 * superuser's 3 (superuser_reserved_connections) and the monitoring and backup roles' (at most 6,
 * reserved_connections in src/cluster/tuning.ts).
 */
const HEADROOM = 10;

/**
 * The roles, least privilege first. `serverMaxConnections` sizes the app role's limit: it must
 * take PgBouncer's pool (max_connections - 15, see src/ops/pooler/settings.ts) plus a few direct
 * sessions (LISTEN), and still leave room for the superuser.
 *
 * @example
 * roleCatalog(roleNames('jeex'), DEFAULT_ROLE_SETTINGS, 100).find((r) => r.kind === 'app')?.settings
 * // { statement_timeout: '30s', lock_timeout: '10s', idle_session_timeout: '15min', ... }
 */
export function roleCatalog(names: RoleSet, settings: RoleSettings, serverMaxConnections: number): RoleSpec[] {
  const idle = {
    idle_session_timeout: formatDuration(settings.idleSessionTimeoutMs),
    idle_in_transaction_session_timeout: formatDuration(settings.idleInTransactionTimeoutMs),
  };
  const reads: Record<string, string> = settings.auditReads ? { log_statement: 'all' } : {};
  const limit = (kind: keyof RoleSettings['connectionLimits'], derived: number) => settings.connectionLimits[kind] ?? derived;
  return [
    {
      kind: 'owner',
      name: names.owner,
      purpose: 'owns the database, its schemas and every object; cannot log in (the migrator becomes it for DDL)',
      login: false,
      replication: false,
      connectionLimit: -1,
      settings: {},
      // The migration runner names the sessions that block it (pg_stat_activity shows other
      // roles' queries only with pg_read_all_stats); its session runs as this role.
      memberOf: [{ role: 'pg_read_all_stats', inherit: true }],
    },
    {
      kind: 'migrator',
      name: names.migrator,
      purpose: 'logs in to run migrations; every session becomes the owner (role setting), so whatever it creates belongs to the owner',
      login: true,
      replication: false,
      connectionLimit: limit('migrator', 10),
      // `role` as a role setting rather than SET ROLE in the runner: every tool that logs in as
      // the migrator (drizzle-kit migrate, Drizzle Studio, psql) runs as the owner too, and
      // RESET ROLE returns to the owner, so ownership can never split between two roles.
      settings: { role: names.owner, statement_timeout: '15min', ...idle },
      // No INHERIT: as itself (SET ROLE NONE) it has no rights on the owner's objects, so it cannot
      // create objects it would own.
      memberOf: [{ role: names.owner, inherit: false }],
    },
    {
      kind: 'app',
      name: names.app,
      purpose: 'what services use: rows of the application tables (SELECT, INSERT, UPDATE, DELETE), no DDL, no TRUNCATE, reads the migration ledger',
      login: true,
      replication: false,
      connectionLimit: limit('app', Math.max(10, serverMaxConnections - HEADROOM)),
      // Timeouts as role settings, not startup parameters: PgBouncer rejects unknown startup
      // parameters, and a role setting applies on every server connection.
      settings: { statement_timeout: '30s', lock_timeout: '10s', ...idle, ...reads },
      memberOf: [],
    },
    {
      kind: 'readonly',
      name: names.readonly,
      purpose: 'reports and support: SELECT on the application tables, nothing else',
      login: true,
      replication: false,
      connectionLimit: limit('readonly', 20),
      settings: { statement_timeout: '60s', lock_timeout: '10s', ...idle, ...reads },
      memberOf: [],
    },
    {
      kind: 'backup',
      name: names.backup,
      purpose: 'base backups: pg_backup_start/stop, reads every table (row counts), REPLICATION for pg_basebackup, the reserved connection slots',
      login: true,
      replication: true,
      connectionLimit: limit('backup', 5),
      // Exempt from the idle timeouts on purpose: between pg_backup_start and pg_backup_stop the
      // session sits idle while the files are copied (minutes to hours), and closing it aborts
      // the backup. No statement_timeout either: pg_backup_start waits for a spread checkpoint
      // (up to 0.9 x checkpoint_timeout) and pg_backup_stop for the WAL archive.
      settings: { statement_timeout: '0', idle_session_timeout: '0', idle_in_transaction_session_timeout: '0' },
      memberOf: [
        { role: 'pg_read_all_data', inherit: true },
        // data_directory, which the backup reads to find the files.
        { role: 'pg_read_all_settings', inherit: true },
        // The reserved_connections slots (src/cluster/tuning.ts): a backup still starts when the
        // application's connections fill max_connections.
        { role: 'pg_use_reserved_connections', inherit: true },
      ],
    },
    {
      kind: 'monitor',
      name: names.monitor,
      purpose: 'health, metrics and alerts: pg_monitor (every session and statistic), the migration ledger, the reserved connection slots, no application rows',
      login: true,
      replication: false,
      connectionLimit: limit('monitor', 10),
      settings: { statement_timeout: '30s', lock_timeout: '5s', ...idle },
      // pg_use_reserved_connections: health and alerts still log in when the application's
      // connections fill max_connections (that is when they are needed).
      memberOf: [
        { role: 'pg_monitor', inherit: true },
        { role: 'pg_use_reserved_connections', inherit: true },
      ],
    },
    {
      kind: 'replicator',
      name: names.replicator,
      purpose: 'what a streaming standby logs in as (primary_conninfo): REPLICATION only, no database, no rows, no settings it could read',
      login: true,
      replication: true,
      // A standby holds one walreceiver connection (two while it restarts); a few for a re-seed.
      connectionLimit: limit('replicator', 5),
      // A walsender idles between messages for as long as nothing is written: the idle timeouts
      // must not end it (it would reconnect, and a synchronous commit would wait meanwhile).
      settings: { statement_timeout: '0', idle_session_timeout: '0', idle_in_transaction_session_timeout: '0' },
      // The credential a standby stores in a file: nothing beyond REPLICATION (jeex_backup reads
      // every table, too much to leave on another host). Physical replication needs no CONNECT.
      memberOf: [],
    },
  ];
}
