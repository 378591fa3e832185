/**
 * Every environment variable jeex-db reads, in one place: what it sets, its default and which
 * parts read it. docs/configuration.md is generated from this list (`npm run docs`), and
 * test/unit/env-vars.test.ts fails when src/ reads a variable that is not here, or when an
 * entry names one that nothing reads any more.
 *
 * A family of variables whose names the code builds is one entry whose name holds a
 * placeholder in angle brackets (`JEEX_HEALTH_<THRESHOLD>`); the test checks that every name
 * the code builds fits it.
 *
 * @example
 * envVar('DATABASE_URL')?.default; // 'the local cluster of `jeex-db up`'
 */
export interface EnvVar {
  /** The variable, or a family of them with one `<PLACEHOLDER>`. */
  name: string;
  /** The section of docs/configuration.md it is listed in. */
  group: EnvGroup;
  /** What it sets, in a sentence or two. */
  sets: string;
  /** What applies when it is unset (absent: nothing, the feature is off). */
  default?: string;
  /** The parts that read it: library functions, commands, files. */
  readBy: readonly string[];
  /** The document that describes it at length (a path under docs/, with an anchor if useful). */
  doc?: string;
}

export type EnvGroup = 'connection' | 'client' | 'local' | 'keys' | 'tls' | 'roles' | 'monitoring' | 'telemetry' | 'backups' | 'cli';

/** The sections of docs/configuration.md, in order, with their titles. */
export const ENV_GROUPS: readonly { group: EnvGroup; title: string }[] = [
  { group: 'connection', title: 'Which database' },
  { group: 'client', title: 'The client and its pool' },
  { group: 'local', title: 'The local cluster' },
  { group: 'keys', title: 'Encryption keys' },
  { group: 'tls', title: 'TLS and production' },
  { group: 'roles', title: 'Roles and passwords' },
  { group: 'monitoring', title: 'Health, alerts and diagnosis' },
  { group: 'telemetry', title: 'Metrics export (OpenTelemetry)' },
  { group: 'backups', title: 'Backups' },
  { group: 'cli', title: 'The command line' },
];

const keyFamily = (prefix: string, what: string, local: string | undefined, readBy: readonly string[], doc: string): EnvVar[] => [
  {
    name: `${prefix}_KEY`,
    group: 'keys',
    sets: `the ${what} key: 32 bytes as base64 or 64 hex digits (\`jeex-db keys generate\` prints one). Set only one of ${prefix}_KEY, ${prefix}_KEY_FILE and ${prefix}_KEYS.`,
    ...(local ? { default: local } : {}),
    readBy,
    doc,
  },
  {
    name: `${prefix}_KEY_FILE`,
    group: 'keys',
    sets: `a file holding the ${what} key (one key a line, the current one first); refused unless only its owner can read it (\`chmod 600\`).`,
    ...(local ? { default: local } : {}),
    readBy,
    doc,
  },
  {
    name: `${prefix}_KEYS`,
    group: 'keys',
    sets: `several ${what} keys, comma-separated, during a rotation: the first encrypts, every one decrypts.`,
    ...(local ? { default: local } : {}),
    readBy,
    doc,
  },
];

const LOCAL_DATA_DIR_READERS = ['createDb()', 'drizzle.config.ts', 'every command that takes --data-dir'] as const;

export const ENV_VARS: readonly EnvVar[] = [
  // Which database
  {
    name: 'DATABASE_URL',
    group: 'connection',
    sets: 'the database to use, e.g. `postgres://user:password@host:5432/database?sslmode=verify-full&sslrootcert=/path/ca.crt`. With it, `jeex-db up` only migrates that server.',
    default: 'the PG* variables, else the local cluster of `jeex-db up`',
    readBy: ['createDb()', 'resolveDbConfig()', 'drizzle.config.ts', 'jeex-db up', 'migrate, status, plan, rollback, check, baseline, mark-applied', 'health', 'diagnose', 'serve'],
    doc: 'tls.md',
  },
  { name: 'PGHOST', group: 'connection', sets: "libpq's host, when `DATABASE_URL` is unset; a list (`h1,h2`) is tried in order.", default: 'localhost (when another PG* variable is set)', readBy: ['resolveDbConfig()'], doc: 'pooling.md#clients-across-a-failover' },
  { name: 'PGPORT', group: 'connection', sets: "libpq's port, when `DATABASE_URL` is unset: one for all hosts of PGHOST, or one each (`5432,5433`).", default: '5432', readBy: ['resolveDbConfig()'] },
  { name: 'PGUSER', group: 'connection', sets: "libpq's user, when `DATABASE_URL` is unset.", default: 'postgres', readBy: ['resolveDbConfig()'] },
  { name: 'PGPASSWORD', group: 'connection', sets: "libpq's password, when `DATABASE_URL` is unset.", readBy: ['resolveDbConfig()'] },
  { name: 'PGDATABASE', group: 'connection', sets: "libpq's database, when `DATABASE_URL` is unset.", default: 'the user name', readBy: ['resolveDbConfig()'] },
  {
    name: 'PGSSLMODE',
    group: 'connection',
    sets: '`sslmode` for any URL that does not say, as libpq does (`verify-full`, `verify-ca`, `require`, `prefer`, `allow`, `disable`).',
    default: "the URL's own, else libpq's default",
    readBy: ['resolveDbConfig()'],
    doc: 'tls.md',
  },
  { name: 'PGSSLROOTCERT', group: 'connection', sets: '`sslrootcert` (a CA file, or `system`) for any URL that does not say.', readBy: ['resolveDbConfig()'], doc: 'tls.md' },
  {
    name: 'PGTARGETSESSIONATTRS',
    group: 'connection',
    sets: '`target_session_attrs` for a URL that does not say, as libpq: `primary` or `read-write` (the primary of a host list), `standby`/`read-only`, `prefer-standby`, `any`. Give `any` and `prefer-standby` in the URL instead: postgres.js reads this variable from the process environment itself and refuses `any`.',
    default: "the URL's own, else `any`",
    readBy: ['createDb()', 'connect()'],
    doc: 'pooling.md#clients-across-a-failover',
  },
  { name: 'PGAPPNAME', group: 'connection', sets: '`application_name` in `pg_stat_activity`.', default: 'jeex-db', readBy: ['createDb()'] },
  {
    name: 'JEEX_DB_MONITOR_URL',
    group: 'connection',
    sets: 'the database the monitoring commands examine, best as a role in `pg_monitor`, straight to PostgreSQL.',
    default: '`DATABASE_URL`, else the local cluster (its monitoring role for health and serve, its superuser for diagnose)',
    readBy: ['jeex-db health', 'jeex-db serve', 'jeex-db diagnose'],
    doc: 'monitoring.md',
  },
  {
    name: 'JEEX_DB_POOLER_CONSOLE_URL',
    group: 'connection',
    sets: "PgBouncer's admin console (`postgres://user:password@host:6432/pgbouncer`, an admin or stats user) that `serve` reads SHOW POOLS from: `pgbouncer:reachable`, `pgbouncer:clientsWaiting`, `pgbouncer:maxWait`, /readyz's saturation. When the app URL is on its host and port, the app's path counts as going through it.",
    default: "the local cluster's PgBouncer console when `jeex-db up` runs one; else none",
    readBy: ['jeex-db serve'],
    doc: 'monitoring.md',
  },
  {
    name: 'JEEX_DB_ADMIN_URL',
    group: 'connection',
    sets: 'a superuser URL of another server (it keeps the password out of `ps`, unlike `--url`).',
    default: 'the local cluster',
    readBy: ['jeex-db roles apply', 'jeex-db roles rotate', 'jeex-db audit'],
    doc: 'roles-and-audit.md',
  },

  // The client and its pool
  { name: 'JEEX_DB_POOL_MAX', group: 'client', sets: 'most connections in the pool.', default: '10', readBy: ['createDb()'], doc: 'pooling.md' },
  { name: 'JEEX_DB_IDLE_TIMEOUT', group: 'client', sets: "seconds an idle connection is kept (below the server's limits).", default: '300', readBy: ['createDb()'] },
  { name: 'JEEX_DB_CONNECT_TIMEOUT', group: 'client', sets: 'seconds to wait for a connection.', default: '10', readBy: ['createDb()'] },
  { name: 'JEEX_DB_MAX_LIFETIME', group: 'client', sets: 'seconds before a connection is replaced.', default: '1800', readBy: ['createDb()'] },
  {
    name: 'JEEX_DB_PREPARE',
    group: 'client',
    sets: 'named prepared statements: `true` or `false`.',
    default: 'true; false behind PgBouncer < 1.21',
    readBy: ['createDb()'],
    doc: 'pooling.md#transaction-mode-rules',
  },
  {
    name: 'JEEX_DB_POOLER',
    group: 'client',
    sets: 'what the URL points at: `pgbouncer` (transaction pooling) or `none`.',
    default: '`pgbouncer` for the local cluster when `up` runs one, else `none`',
    readBy: ['createDb()'],
    doc: 'pooling.md',
  },
  {
    name: 'JEEX_DB_DIRECT_URL',
    group: 'client',
    sets: "a URL straight to PostgreSQL for work that needs a session behind PgBouncer (`urlFor(config, 'session')`: LISTEN, session locks).",
    default: "the local cluster's app role, straight to PostgreSQL",
    readBy: ['createDb()', 'urlFor()'],
    doc: 'pooling.md',
  },
  {
    name: 'JEEX_DB_READ_URL',
    group: 'client',
    sets: 'replicas for reads that opt in (`createDb().read.db` / `.read.sql`), typically the readonly role on the standbys with `target_session_attrs=prefer-standby`. Replicas lag behind the primary.',
    default: 'reads go to the primary client',
    readBy: ['createDb()'],
    doc: 'pooling.md#clients-across-a-failover',
  },
  {
    name: 'JEEX_DB_FAILOVER_WINDOW',
    group: 'client',
    sets: 'how long a statement that never reached a server (refused, starting up or shutting down, a standby where the primary is wanted) is sent again, reconnecting to whichever host is primary now; then `CONNECTION_FAILED` saying so. A duration (`30s`); a plain number is milliseconds.',
    default: '2550 (a restart; 30s rides out a promotion)',
    readBy: ['createDb()'],
    doc: 'pooling.md#clients-across-a-failover',
  },
  { name: 'JEEX_DB_POOL_QUEUE', group: 'client', sets: 'requests that may wait for a connection; more fail at once with `POOL_TIMEOUT`.', default: '1000', readBy: ['createDb()'], doc: 'pooling.md#queues' },
  { name: 'JEEX_DB_ACQUIRE_TIMEOUT', group: 'client', sets: 'milliseconds a request waits for a connection, then `POOL_TIMEOUT`.', default: '5000', readBy: ['createDb()'], doc: 'pooling.md#queues' },
  {
    name: 'JEEX_DB_QUERY_TIMEOUT',
    group: 'client',
    sets: 'milliseconds before the client cancels a query that gets no answer (`QUERY_TIMEOUT`).',
    default: '60000',
    readBy: ['createDb()'],
    doc: 'pooling.md#healing',
  },

  // The local cluster
  {
    name: 'JEEX_DB_DATA_DIR',
    group: 'local',
    sets: 'where the local cluster lives (its data, state, passwords, keys, certificates and backups).',
    default: '.jeex-db',
    readBy: LOCAL_DATA_DIR_READERS,
    doc: 'local-cluster.md',
  },
  {
    name: 'JEEX_PGBOUNCER_BIN',
    group: 'local',
    sets: 'the PgBouncer binary `up` runs.',
    default: '`pgbouncer` on `PATH`, then /usr/sbin, /usr/local/sbin, /usr/local/bin, /usr/bin',
    readBy: ['jeex-db up', 'jeex-db serve (its PgBouncer supervisor)'],
    doc: 'pooling.md',
  },
  { name: 'PATH', group: 'local', sets: 'where `up` looks for `pgbouncer` (before the sbin directories).', readBy: ['jeex-db up'], doc: 'pooling.md' },

  // Encryption keys
  ...keyFamily('JEEX_DATA', 'AES-256 data', "the local cluster's `keys/data.key`", ['createDb() (user queries)', 'jeex-db keys rotate', 'jeex-db keys status'], 'encryption.md'),
  ...keyFamily(
    'JEEX_BLIND_INDEX',
    'HMAC blind-index (a key of its own, never a data key)',
    "the local cluster's `keys/blind-index.key`",
    ['createDb() (user queries)', 'jeex-db keys rotate --blind-index', 'jeex-db keys status'],
    'encryption.md',
  ),
  ...keyFamily('JEEX_BACKUP', 'backup encryption', undefined, ['jeex-db backup', 'jeex-db verify', 'jeex-db restore', 'jeex-db backups repair', 'serve --backup-schedule'], 'backups.md#encryption'),

  // TLS and production
  {
    name: 'NODE_ENV',
    group: 'tls',
    sets: '`production` turns on the production rules (as `up --production`): nothing starts without TLS from real certificate files.',
    readBy: ['jeex-db up'],
    doc: 'tls.md#production',
  },
  { name: 'JEEX_TLS_CERT_FILE', group: 'tls', sets: 'the server certificate (PEM, chain after it) instead of the development CA (as `--tls-cert`).', readBy: ['jeex-db up'], doc: 'tls.md#production' },
  { name: 'JEEX_TLS_KEY_FILE', group: 'tls', sets: "the certificate's private key (as `--tls-key`).", readBy: ['jeex-db up'], doc: 'tls.md#production' },
  {
    name: 'JEEX_TLS_CA_FILE',
    group: 'tls',
    sets: 'the CA clients verify the certificate with (as `--tls-ca`).',
    default: "the system's CAs (`sslrootcert=system`)",
    readBy: ['jeex-db up'],
    doc: 'tls.md#production',
  },

  // Roles and passwords
  {
    name: 'JEEX_IDLE_TIMEOUT',
    group: 'roles',
    sets: "login roles' `idle_session_timeout`, and PgBouncer's `client_idle_timeout` (as `--idle-timeout`), e.g. `15min`.",
    default: 'what the last run used, else 15min',
    readBy: ['jeex-db up', 'jeex-db roles apply'],
    doc: 'roles-and-audit.md#idle-timeouts-sec-003',
  },
  {
    name: 'JEEX_IDLE_IN_TRANSACTION_TIMEOUT',
    group: 'roles',
    sets: "login roles' `idle_in_transaction_session_timeout` (as `--idle-in-transaction-timeout`).",
    default: 'what the last run used, else 5min',
    readBy: ['jeex-db up', 'jeex-db roles apply'],
    doc: 'roles-and-audit.md#idle-timeouts-sec-003',
  },
  {
    name: 'JEEX_AUDIT_READS',
    group: 'roles',
    sets: "`log_statement = 'all'` for the app and read-only roles: `on` or `off` (also true/false, 1/0).",
    default: 'what the last run used, else on',
    readBy: ['jeex-db up', 'jeex-db roles apply'],
    doc: 'roles-and-audit.md#audit-trail',
  },
  {
    name: 'JEEX_<ROLE>_PASSWORD',
    group: 'roles',
    sets: "the password of a login role (`MIGRATOR`, `APP`, `READONLY`, `BACKUP`, `MONITOR`) on another server; checked by the password policy. Roles without one keep theirs.",
    readBy: ['jeex-db roles apply --url'],
    doc: 'roles-and-audit.md',
  },
  { name: 'JEEX_<ROLE>_PASSWORD_FILE', group: 'roles', sets: 'a file holding that password, instead of the variable above.', readBy: ['jeex-db roles apply --url'], doc: 'roles-and-audit.md' },
  {
    name: 'JEEX_NEW_PASSWORD',
    group: 'roles',
    sets: 'the new password of `roles rotate` (instead of `--password-file` or `--password-stdin`).',
    default: 'a random one (the local cluster only)',
    readBy: ['jeex-db roles rotate'],
    doc: 'roles-and-audit.md#rotation',
  },
  { name: 'JEEX_NEW_PASSWORD_FILE', group: 'roles', sets: 'a file holding the new password of `roles rotate`.', readBy: ['jeex-db roles rotate'], doc: 'roles-and-audit.md#rotation' },

  // Health, alerts and diagnosis
  {
    name: 'JEEX_HEALTH_<THRESHOLD>',
    group: 'monitoring',
    sets: 'a health threshold, the option name in upper snake case (`JEEX_HEALTH_CONNECTIONS_WARN_PERCENT=70`, `JEEX_HEALTH_SLOW_STATEMENT_MS=200`); `off` turns it off. An invalid value keeps the default and adds a `health:thresholds` warn entry.',
    default: 'the defaults in the table of health checks',
    readBy: ['checkHealth()', 'jeex-db health', 'jeex-db serve'],
    doc: 'monitoring.md#health-checks',
  },
  {
    name: 'JEEX_ALERTMANAGER_URL',
    group: 'monitoring',
    sets: 'the Alertmanager(s) alerts are sent to (API v2, `<url>/api/v2/alerts`), comma-separated: each of an HA pair gets every alert. Credentials in a URL become HTTP Basic authentication. `--alertmanager-url` replaces it.',
    readBy: ['AlertEngine', 'alertReceivers', 'jeex-db serve'],
    doc: 'monitoring.md#delivery',
  },
  {
    name: 'JEEX_ALERT_WEBHOOK_URL',
    group: 'monitoring',
    sets: 'webhook(s) firing and resolved alerts are POSTed to as JSON, one alert per request (comma-separated for several); credentials in the URL become HTTP Basic authentication. `--alert-webhook-url` replaces it.',
    readBy: ['AlertEngine', 'alertReceivers', 'jeex-db serve'],
    doc: 'monitoring.md#delivery',
  },
  {
    name: 'JEEX_ALERT_LABELS',
    group: 'monitoring',
    sets: 'labels on every alert, `name=value` pairs separated by commas (e.g. `cluster=prod-eu,team=db`); `alertname`, `severity`, `check` and `component` are refused (the engine sets them). Options and `--alert-label` add to and override them.',
    default: '`instance` = the host name',
    readBy: ['AlertEngine', 'jeex-db serve'],
    doc: 'monitoring.md#delivery',
  },
  {
    name: 'JEEX_ALERT_REPEAT_INTERVAL',
    group: 'monitoring',
    sets: 'how often a firing alert is sent to Alertmanager again, each time valid for 4 such intervals (a duration, e.g. `1min`; a plain number is seconds). `--alert-repeat-interval` replaces it.',
    default: '1min',
    readBy: ['AlertEngine', 'jeex-db serve'],
    doc: 'monitoring.md#delivery',
  },

  // Metrics export (OpenTelemetry)
  {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    group: 'telemetry',
    sets: 'collector base URL (OTLP over HTTP, port 4318); `/v1/metrics` is appended. Setting it (or the next) turns OTLP on.',
    readBy: ['startTelemetry()', 'jeex-db serve'],
    doc: 'monitoring.md#metrics-opentelemetry',
  },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', group: 'telemetry', sets: 'full metrics URL, used as is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_EXPORTER_OTLP_HEADERS', group: 'telemetry', sets: '`key=value,…` headers (values percent-decoded), e.g. an API key; never printed.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', group: 'telemetry', sets: 'headers for the metrics requests only, added to the previous.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  {
    name: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    group: 'telemetry',
    sets: '`http/protobuf` or `http/json`; `grpc` is refused with `INVALID_CONFIG`.',
    default: 'http/protobuf',
    readBy: ['startTelemetry()', 'jeex-db serve'],
    doc: 'monitoring.md#metrics-opentelemetry',
  },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', group: 'telemetry', sets: 'the protocol of the metrics requests; wins over the previous.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_EXPORTER_OTLP_TIMEOUT', group: 'telemetry', sets: 'milliseconds one HTTP request may take.', default: '10000', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', group: 'telemetry', sets: 'the same for the metrics requests; wins over the previous.', default: '10000', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_METRIC_EXPORT_INTERVAL', group: 'telemetry', sets: 'milliseconds between exports.', default: '60000', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_METRIC_EXPORT_TIMEOUT', group: 'telemetry', sets: 'milliseconds one collection and export may take (at most the interval).', default: '30000', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  {
    name: 'OTEL_METRICS_EXPORTER',
    group: 'telemetry',
    sets: '`otlp` (on, default endpoint `http://localhost:4318`), `prometheus` (a reader for `GET /metrics`), `none`; comma-separated.',
    readBy: ['startTelemetry()', 'jeex-db serve'],
    doc: 'monitoring.md#metrics-opentelemetry',
  },
  { name: 'OTEL_SERVICE_NAME', group: 'telemetry', sets: 'the resource attribute `service.name`.', default: '`service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else jeex-db', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_RESOURCE_ATTRIBUTES', group: 'telemetry', sets: '`key=value,…` resource attributes.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },
  { name: 'OTEL_SDK_DISABLED', group: 'telemetry', sets: '`true`: no exporter at all.', readBy: ['startTelemetry()', 'jeex-db serve'], doc: 'monitoring.md#metrics-opentelemetry' },

  // Backups
  {
    name: 'JEEX_BACKUP_SCHEDULE',
    group: 'backups',
    sets: 'a cron schedule (local time, five fields or six with seconds first) on which `serve` backs up, verifies and prunes the local cluster.',
    readBy: ['jeex-db serve'],
    doc: 'backups.md#schedule',
  },
  { name: 'JEEX_BACKUP_KEEP_COUNT', group: 'backups', sets: 'retention: keep the newest this many backups.', default: '7', readBy: ['pruneBackups()', 'jeex-db backups prune', 'serve --backup-schedule'], doc: 'backups.md#retention' },
  { name: 'JEEX_BACKUP_KEEP_DAYS', group: 'backups', sets: 'retention: keep every backup that stopped less than this many days ago.', default: '14', readBy: ['pruneBackups()', 'jeex-db backups prune', 'serve --backup-schedule'], doc: 'backups.md#retention' },

  // The command line
  { name: 'NO_COLOR', group: 'cli', sets: 'any value: no colour in the human output, even on a terminal.', readBy: ['every command'] },
  { name: 'JEEX_DB_DEBUG', group: 'cli', sets: 'any value: an unexpected failure prints its stack.', readBy: ['every command'], doc: 'errors.md' },
];

/** The entry for a variable, by its exact name or by the family whose pattern it fits. */
export function envVar(name: string): EnvVar | undefined {
  return ENV_VARS.find((entry) => entry.name === name) ?? ENV_VARS.find((entry) => envVarPattern(entry.name)?.test(name));
}

/** A family's name as a regular expression (`JEEX_HEALTH_<THRESHOLD>` → /^JEEX_HEALTH_[A-Z0-9_]+$/); none for a plain name. */
export function envVarPattern(name: string): RegExp | undefined {
  if (!/<[A-Z_]+>/.test(name)) return undefined;
  return new RegExp(`^${name.split(/<[A-Z_]+>/).join('[A-Z0-9_]+')}$`);
}
