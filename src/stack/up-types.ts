import type { UpTls } from '../ops/tls/server-tls.ts';
import type { TlsInput } from '../ops/tls/config.ts';
import type { RoleSettingsFlags } from '../ops/roles/settings.ts';
import type { Setting } from '../cluster/tuning.ts';

// What `up()` takes and returns (src/stack/up.ts runs it; src/stack/steps/ are its steps).

/** The port a local cluster listens on unless told otherwise (5432 is often taken). */
export const DEFAULT_PORT = 5418;
export const LOCAL_HOST = '127.0.0.1';
export const MIN_SERVER_VERSION_NUM = 180000;

export interface UpMigrations {
  applied: string[];
  adopted: string[];
  total: number;
  restorePoint?: string;
  warnings: string[];
}

export interface UpOptions {
  /** Default `.jeex-db` in `cwd`. */
  dataDir?: string;
  cwd?: string;
  /** Default: the port this data directory used last, else 5418. */
  port?: number;
  /** Seconds to wait for the server to accept queries. Default 60. */
  startTimeoutSeconds?: number;
  /** Override the machine's memory / CPUs for the derived settings (e.g. a shared dev box). */
  memoryBytes?: number;
  cpus?: number;
  maxConnections?: number;
  /** A libc locale for a new cluster; default the built-in C.UTF-8. */
  locale?: string;
  /** OS user the server runs as when we are root. Default `postgres`. */
  osUser?: string;
  /** Use this server instead of a local cluster: only migrations are applied. */
  databaseUrl?: string;
  /** Run PgBouncer in front of the local cluster when it is installed (default true). */
  pooler?: boolean;
  /**
   * Idle timeouts and read auditing of the roles (see `roles apply`): these, else
   * JEEX_IDLE_TIMEOUT / JEEX_IDLE_IN_TRANSACTION_TIMEOUT / JEEX_AUDIT_READS, else the values
   * used last (state.json), else 15 min / 5 min / on.
   */
  roleSettings?: RoleSettingsFlags;
  /**
   * TLS (default: on, with the development CA in `<data dir>/tls/`): `{ enabled: false }` is
   * `--no-tls`; `certFile`/`keyFile`/`caFile` real certificates (else JEEX_TLS_*_FILE); in
   * production (`production`, or NODE_ENV=production) only real certificates are accepted.
   */
  tls?: TlsInput;
  /** Where NODE_ENV and JEEX_TLS_* are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  onProgress?: (message: string) => void;
}

export interface UpPooler {
  /**
   * `absent`: no usable pgbouncer binary (`reason` says what is missing, `hint` how to install it);
   * `disabled`: --no-pooler. Then the app URL points straight at PostgreSQL.
   */
  status: 'started' | 'already-running' | 'reloaded' | 'absent' | 'disabled' | 'external';
  port?: number;
  version?: string;
  preparedStatements?: boolean;
  reason?: string;
  /** With `absent`: how to get PgBouncer (the OS package), or to go without it (--no-pooler). */
  hint?: string;
}

/** Whether the local cluster archives its WAL into the backup repository. */
export interface UpWalArchive {
  /** `<repo>/wal`, where basic_archive copies finished segments. */
  dir: string;
  /**
   * `on`: the server archives into `dir`. `restart-needed`: it was already running without
   * archiving (started by an older jeex-db); it gets it at its next start, it was not restarted.
   * `overridden`: postgresql.local.conf (or ALTER SYSTEM) turned it off or pointed it elsewhere.
   * `standby`: the cluster is a standby: its primary archives; it will once promoted.
   */
  status: 'on' | 'restart-needed' | 'overridden' | 'standby';
  archiveMode: string;
  archiveLibrary: string;
  /** e.g. `1min`: at most this much committed data is missing from the archive after a crash. */
  archiveTimeout: string;
  /** basic_archive's stale temporary files (`archtemp.*` of failed or crashed copies) this `up` deleted. */
  tempFilesRemoved?: string[];
}

export interface UpResult {
  mode: 'embedded' | 'external';
  /** `started`: this call started the server; `already-running`: it was up; `external`: DATABASE_URL. */
  status: 'started' | 'already-running' | 'external';
  /** A new cluster was created (initdb ran). */
  created: boolean;
  /** `app`: what a service uses (through PgBouncer when it runs); `appDirect`: the same role straight to PostgreSQL. */
  urls: { app: string; appDirect?: string; migrator?: string; superuser?: string; readonly?: string; backup?: string; monitor?: string };
  pooler: UpPooler;
  serverVersion: string;
  /** What the migration runner did: migrations applied now, adopted from drizzle-kit, and all there are. */
  migrations: UpMigrations;
  durationMs: number;
  dataDir?: string;
  pgdata?: string;
  serverLog?: string;
  secretsFile?: string;
  host?: string;
  port?: number;
  ports?: { postgres: number; pgbouncer?: number };
  pid?: number;
  settings?: Setting[];
  /** The local cluster's WAL archive (not for DATABASE_URL). */
  walArchive?: UpWalArchive;
  /** Things the user should know that did not stop `up`, e.g. a restart that archiving needs. */
  notes?: string[];
  /** TLS of the local cluster (not for DATABASE_URL): on, with what clients verify; or off, with a warning. */
  tls?: UpTls;
  /** In a primary/standby pair (`jeex-db standby`): what this cluster is. Absent: a primary on its own. */
  replication?: UpReplication;
}

/** What `up` says of a cluster in a primary/standby pair. */
export interface UpReplication {
  role: 'standby' | 'primary';
  /** A standby's primary, its name there and its slot (absent for a standby made by hand). */
  primary?: { host: string; port: number; dataDir?: string };
  name?: string;
  slot?: string;
  sync?: boolean;
  /** A promoted standby: when, and its timeline then. */
  promotedAt?: string;
  timeline?: number;
}
