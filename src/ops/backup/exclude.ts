/**
 * What a base backup leaves out of the data directory, as PostgreSQL 18 documents it ("Making a
 * Base Backup Using the Low Level API") and pg_basebackup does (basebackup.c): files the server
 * recreates or that would be wrong in a restored cluster.
 */

/** Directories kept (empty) but whose contents are skipped: recreated or reset at startup. */
export const EXCLUDED_DIR_CONTENTS = new Set([
  'pg_wal', // replayed from the archive; the restore fetches it with restore_command
  'pg_dynshmem',
  'pg_notify',
  'pg_replslot', // slots would hold WAL back on the restored cluster
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

/** Empty directories a restored `pg_wal` needs. */
export const WAL_SUBDIRS = ['pg_wal/archive_status', 'pg_wal/summaries'];

/** Files at the top of the data directory that are left out. */
export const EXCLUDED_TOP_FILES = new Set([
  'postmaster.pid', // a restored server would think another one is running
  'postmaster.opts',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
  // Written into the backup from pg_backup_stop's answer; a stale copy must not be used.
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  'tablespace_map.old',
  'backup_manifest',
  'recovery.signal',
  'standby.signal',
]);

/**
 * Whether `relPath` (relative to the data directory, `/`-separated) is left out. Directories in
 * EXCLUDED_DIR_CONTENTS themselves are kept; their entries are not.
 */
export function isExcluded(relPath: string): boolean {
  const parts = relPath.split('/');
  const name = parts[parts.length - 1] ?? '';
  // Temporary files and directories (sorts, hash joins): removed at startup.
  if (name.startsWith('pgsql_tmp')) return true;
  // The relation cache init file is rebuilt at startup (basebackup.c excludes it by prefix).
  if (name.startsWith('pg_internal.init')) return true;
  if (parts.length === 1) return EXCLUDED_TOP_FILES.has(name);
  return parts.length >= 2 && EXCLUDED_DIR_CONTENTS.has(parts[0] ?? '');
}
