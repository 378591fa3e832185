import type postgres from 'postgres';
import { POOLER_ADMIN_USER } from '../local/files.ts';
import { clientTarget } from '../db/client-tls.ts';
import { connect } from '../db/connect.ts';
import { bootstrapDatabase } from './bootstrap.ts';
import { JeexDbError } from '../core/errors.ts';
import { migrate } from '../migrate/runner.ts';
import { translateDbError } from '../db/translate-error.ts';
import { processAlive } from '../platform/process-alive.ts';
import { checkThroughPooler, ensurePooler, stopPoolerIn } from '../ops/pooler/local.ts';
import { localLayout, type LocalLayout } from '../local/layout.ts';
import { buildUrl, type LocalSecrets, type UrlTls } from '../local/state.ts';
import { armArchiveTimeout } from '../cluster/archive-timeout.ts';
import { resolveTlsPlan, type TlsInput } from '../ops/tls/config.ts';
import { prepareServerTls, type UpTls } from '../ops/tls/server-tls.ts';
import { findBinaries, type PgBinaries } from '../cluster/binaries.ts';
import { cleanArchiveTemp } from '../ops/backup/archive-temp.ts';
import { defaultRepo } from '../ops/backup/repo.ts';
import { choosePort } from './choose-port.ts';
import { prepareWalArchive, writeAccessConfig, writeServerConfig } from './configure.ts';
import { checkClusterVersion, prepareDataDir } from '../cluster/data-dir.ts';
import type { RunAs } from '../platform/exec.ts';
import { initCluster } from '../cluster/initdb.ts';
import { LOCAL_DATABASE, LOCAL_ROLES, loadOrCreateSecrets, readOrSetAsideState, writeLocalState } from '../local/files.ts';
import { ensureLocalKeys } from '../local/new-keys.ts';
import { detectMachine } from '../cluster/machine.ts';
import { serverOsUser } from '../platform/os-user.ts';
import { reloadServer, serverStatus, stalePidFile, startServer, startTimeout, stopServer } from '../cluster/pg-ctl.ts';
import { waitUntilReady } from '../cluster/ready.ts';
import { readLogSince, relevantLines, logOffset } from '../platform/log-file.ts';
import { DEFAULT_IDLE_SESSION_TIMEOUT_MS, resolveRoleSettings, type RoleSettingsFlags } from '../ops/roles/settings.ts';
import { deriveSettings, humanBytes, type Setting } from '../cluster/tuning.ts';

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
  /** `missing`: no pgbouncer binary; `disabled`: --no-pooler. Then the app URL is direct. */
  status: 'started' | 'already-running' | 'reloaded' | 'missing' | 'disabled' | 'external';
  port?: number;
  version?: string;
  preparedStatements?: boolean;
  reason?: string;
}

/** Whether the local cluster archives its WAL into the backup repository. */
export interface UpWalArchive {
  /** `<repo>/wal`, where basic_archive copies finished segments. */
  dir: string;
  /**
   * `on`: the server archives into `dir`. `restart-needed`: it was already running without
   * archiving (started by an older jeex-db); it gets it at its next start, it was not restarted.
   * `overridden`: postgresql.local.conf (or ALTER SYSTEM) turned it off or pointed it elsewhere.
   */
  status: 'on' | 'restart-needed' | 'overridden';
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
}

/**
 * Bring up a migrated PostgreSQL 18: with `databaseUrl`, migrate that server; otherwise create
 * (first time) and start the local cluster in the data directory, create the roles and the
 * database, apply the migrations. The server keeps running after this returns; stop it with
 * `down()`.
 *
 * @example
 * const result = await up({ dataDir: '.jeex-db' });
 * console.log(result.urls.app);
 */
export async function up(options: UpOptions = {}): Promise<UpResult> {
  return options.databaseUrl ? upExternal(options.databaseUrl, options) : upEmbedded(options);
}

async function upExternal(url: string, options: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const env = options.env ?? process.env;
  const sslmode = clientTarget(url).sslmode;
  if ((options.tls?.production || env.NODE_ENV === 'production') && sslmode !== 'verify-full' && sslmode !== 'verify-ca') {
    throw new JeexDbError('TLS_REQUIRED', `refusing DATABASE_URL without a verified TLS connection in production (NODE_ENV=production or --production): its sslmode is ${sslmode}`, {
      hint: 'Add sslmode=verify-full and sslrootcert=<the CA file> (or sslrootcert=system for a public CA) to DATABASE_URL.',
    });
  }
  const progress = options.onProgress ?? (() => {});
  progress('connecting to DATABASE_URL');
  const sql = connect(url, { max: 1, connect_timeout: options.startTimeoutSeconds ?? 10, onnotice: () => {} });
  let version: { version: string; num: number };
  try {
    const [row] = await sql<{ version: string; num: string }[]>`
      SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`;
    version = { version: row?.version ?? '', num: Number(row?.num) };
  } catch (error) {
    throw translateDbError(error);
  } finally {
    await sql.end({ timeout: 2 });
  }
  if (version.num < MIN_SERVER_VERSION_NUM) {
    throw new JeexDbError('UNSUPPORTED_SERVER', `the server at DATABASE_URL runs PostgreSQL ${version.version}; jeex-db needs 18 or newer`, {
      hint: 'The schema uses PostgreSQL 18 features (uuidv7()). Point DATABASE_URL at a PostgreSQL 18 server, or unset it to use the local one.',
    });
  }
  progress('applying migrations');
  const migrations = await migrateUrl(url, progress);
  return {
    mode: 'external',
    status: 'external',
    created: false,
    urls: { app: url },
    pooler: { status: 'external', reason: 'DATABASE_URL is used as given' },
    serverVersion: version.version,
    migrations,
    durationMs: Date.now() - started,
  };
}

async function upEmbedded(options: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const timeoutSeconds = options.startTimeoutSeconds ?? 60;
  const deadline = started + timeoutSeconds * 1000;
  const progress = options.onProgress ?? (() => {});
  const layout = localLayout(options.dataDir, options.cwd);
  // Before anything is touched: production without real certificates stops here.
  const tlsPlan = resolveTlsPlan(options.tls ?? {}, options.env ?? process.env);

  const bin = await findBinaries();
  const as = await serverOsUser(options.osUser);
  // Things to tell that did not stop `up`, printed with the others at the end.
  const startNotes: string[] = [];
  // A damaged state.json is set aside and written again (it holds no secrets).
  const previous = await readOrSetAsideState(layout, (message) => startNotes.push(message));
  const cluster = await checkClusterVersion(layout.pgdata, bin.major);
  const status = await serverStatus(bin, layout, as);
  if (status.stale) throw stalePidFile(layout, status.stale);
  const port = await choosePort({ layout, status, previous, cluster, asked: options.port, host: LOCAL_HOST, defaultPort: DEFAULT_PORT }, progress, startNotes);

  await prepareDataDir(layout, as);
  // Before the server starts: basic_archive needs the directory to exist and be its user's.
  const repo = defaultRepo(layout);
  await prepareWalArchive(repo, as);
  // basic_archive's leftovers of failed or crashed copies (archtemp.*): only stale ones go.
  const archiveTemp = await cleanArchiveTemp(repo).catch(() => undefined);
  const secrets = await loadOrCreateSecrets(layout, cluster === 'existing', (message) => startNotes.push(message));
  await ensureLocalKeys(layout, progress);
  const roleSettings = resolveRoleSettings(options.roleSettings, process.env, previous?.roleSettings);
  const tls = await prepareServerTls(tlsPlan, { dataDir: layout.root, localHost: LOCAL_HOST, ...(as ? { as } : {}) });
  if (tls.report.status === 'on' && tls.report.ca?.status === 'created') progress(`created the development CA ${tls.report.ca.file} (clients verify the server with it)`);

  const machine = detectMachine();
  const cpus = options.cpus ?? machine.cpus;
  let settings: Setting[] | undefined;
  let startedHere = false;
  let poolerStartedHere = false;
  // Everything this start writes to the server log, for the error if the server never answers.
  const offset = await logOffset(layout.serverLog);
  if (!status.running) {
    if (cluster === 'new') {
      progress(`creating a PostgreSQL ${bin.version} cluster in ${layout.pgdata}`);
      await initCluster(bin, layout, { superuser: secrets.superuser.user, password: secrets.superuser.password, ...(options.locale ? { locale: options.locale } : {}) }, as);
    }
    const memoryBytes = options.memoryBytes ?? machine.memoryBytes;
    settings = deriveSettings({ memoryBytes, cpus, storage: machine.storage }, options.maxConnections ? { maxConnections: options.maxConnections } : {});
    await writeServerConfig(
      layout,
      { host: LOCAL_HOST, port, tuning: settings, machine: `${humanBytes(memoryBytes)} memory, ${cpus} CPUs`, walArchiveDir: repo.wal, ...(tls.files ? { tls: tls.files } : {}) },
      as,
    );
    progress(`starting PostgreSQL on ${LOCAL_HOST}:${port}${tls.files ? ' (TLS 1.3 only)' : ' WITHOUT TLS'}`);
    await startServer(bin, layout, { timeoutSeconds: Math.max(1, (deadline - Date.now()) / 1000), host: LOCAL_HOST, port }, as);
    startedHere = true;
  } else {
    progress(`PostgreSQL is already running on ${LOCAL_HOST}:${port} (pid ${status.pid ?? '?'})`);
    // It still has the TLS setup (and certificates) of its last start: pg_hba.conf, the ssl
    // settings and renewed certificates take effect with a reload.
    const access = { host: LOCAL_HOST, port, walArchiveDir: repo.wal, ...(tls.files ? { tls: tls.files } : {}) };
    if ((await writeAccessConfig(layout, access, as)) || tls.changed) {
      progress(`reloading PostgreSQL's configuration (TLS ${tls.files ? 'on' : 'OFF'})`);
      await reloadServer(bin, layout, as);
    }
  }

  try {
    const state = {
      version: 1 as const,
      pgMajor: bin.major,
      host: LOCAL_HOST,
      port,
      database: LOCAL_DATABASE,
      roles: { ...LOCAL_ROLES },
      roleSettings: { idleSessionTimeoutMs: roleSettings.idleSessionTimeoutMs, idleInTransactionTimeoutMs: roleSettings.idleInTransactionTimeoutMs, auditReads: roleSettings.auditReads },
      ...(tls.url ? { tls: tls.url } : {}),
    };
    await writeLocalState(layout, state);
    const urls = localUrls(secrets, port, tls.url);
    const ready = await waitUntilReady(urls.superuser, deadline).catch(async (error: unknown) => {
      if (error instanceof JeexDbError && error.code === 'SERVER_START_TIMEOUT') {
        throw startTimeout(timeoutSeconds, layout, relevantLines(await readLogSince(layout.serverLog, offset)));
      }
      if (error instanceof JeexDbError && error.code === 'AUTHENTICATION_FAILED') {
        // The cluster was made with the passwords in secrets.json: this one was changed since.
        throw new JeexDbError('AUTHENTICATION_FAILED', `the cluster refuses the superuser password in ${layout.secretsFile} (${error.message})`, {
          hint: 'secrets.json was edited or damaged: restore it from a copy; without one, see "Recovering secrets.json" in docs/local-cluster.md.',
          cause: error,
          context: { file: layout.secretsFile },
        });
      }
      throw error;
    });

    progress('creating roles and the application database');
    const admin = connect(urls.superuser, { max: 1, onnotice: () => {} });
    let walArchive: UpWalArchive;
    let roleWarnings: string[] = [];
    try {
      // Without this, archive_timeout counts only from the first timed checkpoint, up to 15 min after a start (see archive-timeout.ts).
      await armArchiveTimeout(admin);
      walArchive = await readWalArchive(admin, repo.wal, startedHere);
      if (archiveTemp?.removed.length) walArchive.tempFilesRemoved = archiveTemp.removed.map((f) => f.name);
      await bootstrapDatabase(admin, (database) => connect(urlFor(secrets.superuser, port, database, tls.url), { max: 1, onnotice: () => {} }), {
        database: LOCAL_DATABASE,
        migrator: secrets.migrator,
        app: secrets.app,
        owner: LOCAL_ROLES.owner,
        ...(secrets.readonly ? { readonly: secrets.readonly } : {}),
        ...(secrets.backup ? { backup: secrets.backup } : {}),
        ...(secrets.monitor ? { monitor: secrets.monitor } : {}),
        settings: roleSettings,
      }).then((roles) => {
        roleWarnings = roles.warnings;
        if (roles.changes.length > 0) progress(`roles: ${roles.changes.length} change(s) applied (\`jeex-db roles apply\` lists them)`);
      });
    } catch (error) {
      throw translateDbError(error);
    } finally {
      await admin.end({ timeout: 2 });
    }

    progress('applying migrations');
    const migrations = await migrateUrl(urls.migrator, progress);

    let pooler: UpPooler;
    let appUrl = urls.app;
    if (options.pooler === false) {
      if (await stopPoolerIn(layout.pgbouncerDir)) progress('stopped PgBouncer (--no-pooler)');
      pooler = { status: 'disabled', reason: '--no-pooler: the app URL points straight at PostgreSQL' };
    } else {
      const poolerAdminSql = connect(urls.superuser, { max: 1, onnotice: () => {} });
      // PgBouncer presents the server's certificate to clients and verifies the server with the CA
      // (and its name, unless the certificate names another host than 127.0.0.1).
      const poolerTls = tls.files && tls.url ? { certFile: tls.files.certFile, keyFile: tls.files.keyFile, ...(tls.files.caFile ? { caFile: tls.files.caFile } : {}), verifyHostname: !tls.url.verifyHost } : undefined;
      try {
        const result = await ensurePooler({
          dir: layout.pgbouncerDir,
          as,
          host: LOCAL_HOST,
          server: { port },
          admin: poolerAdminSql,
          roles: [secrets.app.user, ...(secrets.readonly ? [secrets.readonly.user] : [])],
          console: secrets.pooler ?? { user: POOLER_ADMIN_USER, password: '' },
          // Clients idle longer than the roles' idle_session_timeout are closed by PgBouncer too.
          ...(roleSettings.idleSessionTimeoutMs !== DEFAULT_IDLE_SESSION_TIMEOUT_MS ? { overrides: { client_idle_timeout: String(Math.ceil(roleSettings.idleSessionTimeoutMs / 1000)) } } : {}),
          ...(poolerTls ? { tls: poolerTls, reloadTls: tls.changed } : {}),
          cpus,
          ...(previous?.pooler ? { previousPort: previous.pooler.port } : {}),
          progress,
        });
        if (result.status === 'missing') {
          progress(result.reason);
          pooler = result;
        } else {
          poolerStartedHere = result.status === 'started';
          appUrl = buildUrl({ ...secrets.app, host: LOCAL_HOST, port: result.port, database: LOCAL_DATABASE, ...(tls.url ? { tls: tls.url } : {}) });
          await checkThroughPooler(appUrl, result.preparedStatements);
          pooler = { status: result.status, port: result.port, version: result.version, preparedStatements: result.preparedStatements };
          await writeLocalState(layout, { ...state, pooler: { port: result.port, version: result.version, preparedStatements: result.preparedStatements } });
        }
      } finally {
        await poolerAdminSql.end({ timeout: 2 });
      }
    }

    const notes = [...startNotes, ...tls.notes, ...walArchiveNotes(walArchive), ...roleWarnings];
    for (const line of notes) progress(line);
    const after = await serverStatus(bin, layout, as);
    return {
      mode: 'embedded',
      status: startedHere ? 'started' : 'already-running',
      created: cluster === 'new',
      urls: { app: appUrl, appDirect: urls.app, migrator: urls.migrator, superuser: urls.superuser, ...otherUrls(secrets, port, tls.url) },
      pooler,
      serverVersion: ready.version,
      migrations,
      durationMs: Date.now() - started,
      dataDir: layout.root,
      pgdata: layout.pgdata,
      serverLog: layout.serverLog,
      secretsFile: layout.secretsFile,
      host: LOCAL_HOST,
      port,
      ports: { postgres: port, ...(pooler.port ? { pgbouncer: pooler.port } : {}) },
      ...(after.pid ? { pid: after.pid } : {}),
      ...(settings ? { settings } : {}),
      walArchive,
      ...(notes.length ? { notes } : {}),
      tls: tls.report,
    };
  } catch (error) {
    // A failed `up` leaves things as they were: stop what this call started.
    if (poolerStartedHere) await stopPoolerIn(layout.pgbouncerDir).catch(() => false);
    if (startedHere) await stopServer(bin, layout, as, 'fast').catch(() => undefined);
    throw error;
  }
}

/** What the running server does with its WAL, compared with what `up` configures. */
async function readWalArchive(sql: postgres.Sql, dir: string, startedHere: boolean): Promise<UpWalArchive> {
  const [row] = await sql<{ mode: string; library: string; directory: string | null; timeout: string; pending: boolean }[]>`
    SELECT current_setting('archive_mode') AS mode, current_setting('archive_library') AS library,
           current_setting('basic_archive.archive_directory', true) AS directory,
           current_setting('archive_timeout') AS timeout,
           EXISTS (SELECT 1 FROM pg_settings WHERE name IN ('archive_mode', 'archive_library') AND pending_restart) AS pending`;
  const archiving = row?.mode === 'on' && row.library === 'basic_archive' && row.directory === dir && !row.pending;
  return {
    dir,
    status: archiving ? 'on' : startedHere ? 'overridden' : 'restart-needed',
    archiveMode: row?.mode ?? '',
    archiveLibrary: row?.library ?? '',
    archiveTimeout: row?.timeout ?? '',
  };
}

function walArchiveNotes(archive: UpWalArchive): string[] {
  const removed = archive.tempFilesRemoved ?? [];
  const cleaned = removed.length > 0 ? [`removed ${removed.length} stale basic_archive temporary file(s) from ${archive.dir} (left by failed or interrupted copies): ${removed.join(', ')}`] : [];
  return [...cleaned, ...archiveModeNotes(archive)];
}

function archiveModeNotes(archive: UpWalArchive): string[] {
  const now = `archive_mode = ${archive.archiveMode}, archive_library = '${archive.archiveLibrary}'`;
  if (archive.status === 'restart-needed') {
    return [
      `PostgreSQL was already running without WAL archiving into ${archive.dir} (${now}; started by an older jeex-db?). It was not restarted: archiving starts at its next start (\`jeex-db down\`, then \`jeex-db up\`); until then point-in-time recovery is not possible.`,
    ];
  }
  if (archive.status === 'overridden') {
    return [
      `WAL is not archived into ${archive.dir} (${now}): postgresql.local.conf or ALTER SYSTEM overrides archive_mode, archive_library or basic_archive.archive_directory; remove the override for point-in-time recovery.`,
    ];
  }
  return [];
}

/** Apply the package's migrations with the runner, on a client of its own (two connections). */
async function migrateUrl(url: string, progress: (message: string) => void): Promise<UpMigrations> {
  const sql = connect(url, { max: 2, onnotice: () => {}, connection: { application_name: 'jeex-db up' } });
  try {
    const result = await migrate(sql, { onProgress: progress });
    return {
      applied: result.applied.map((step) => step.name),
      adopted: result.adopted,
      total: result.total,
      warnings: result.warnings,
      ...(result.restorePoint ? { restorePoint: result.restorePoint } : {}),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function urlFor(role: { user: string; password: string }, port: number, database: string, tls: UrlTls | undefined): string {
  return buildUrl({ user: role.user, password: role.password, host: LOCAL_HOST, port, database, ...(tls ? { tls } : {}) });
}

/** The read-only, backup and monitor roles, straight to PostgreSQL. */
function otherUrls(secrets: LocalSecrets, port: number, tls: UrlTls | undefined): { readonly?: string; backup?: string; monitor?: string } {
  const urls: { readonly?: string; backup?: string; monitor?: string } = {};
  for (const role of ['readonly', 'backup', 'monitor'] as const) {
    const secret = secrets[role];
    if (secret) urls[role] = urlFor(secret, port, LOCAL_DATABASE, tls);
  }
  return urls;
}

function localUrls(secrets: LocalSecrets, port: number, tls: UrlTls | undefined): { app: string; migrator: string; superuser: string } {
  return {
    app: urlFor(secrets.app, port, LOCAL_DATABASE, tls),
    migrator: urlFor(secrets.migrator, port, LOCAL_DATABASE, tls),
    superuser: urlFor(secrets.superuser, port, 'postgres', tls),
  };
}

export interface DownResult {
  dataDir: string;
  /** The server was running and is now stopped. */
  stopped: boolean;
  /** A PgBouncer was running and is now stopped. */
  poolerStopped: boolean;
}

/** Stop the local cluster of a data directory (a no-op when it is not running). */
export async function down(options: { dataDir?: string; cwd?: string; osUser?: string } = {}): Promise<DownResult> {
  const layout = localLayout(options.dataDir, options.cwd);
  const bin = await findBinaries();
  const as = await serverOsUser(options.osUser);
  // PgBouncer first: its clients should not see the server vanish under them.
  const poolerStopped = await stopPoolerIn(layout.pgbouncerDir);
  const status = await serverStatus(bin, layout, as);
  if (!status.running) return { dataDir: layout.root, stopped: false, poolerStopped };
  return { dataDir: layout.root, stopped: await stopServer(bin, layout, as, 'fast'), poolerStopped };
}

/** Resolve when the postmaster `pid` is gone (polling, since it is not our child). */
export function whenServerExits(pid: number, signal?: AbortSignal, intervalMs = 500): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (processAlive(pid)) return;
      clearInterval(timer);
      resolve();
    }, intervalMs);
    signal?.addEventListener('abort', () => {
      clearInterval(timer);
      resolve();
    });
  });
}

export type { LocalLayout, PgBinaries, RunAs };
