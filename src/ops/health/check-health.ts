import type { Sql } from 'postgres';
import { packageVersion } from '../../core/package.ts';
import { describeError, withTimeout } from './bounded.ts';
import { backupCheck, backupScheduleCheck, migrationsCheck, operationsCheck, poolCheck, poolerCheck, poolerSupervisionCheck, type BackupScheduleState, type PoolerSupervisionState, type PoolState } from './client-checks.ts';
import type { OperationStats } from '../../db/operation-window.ts';
import {
  archiveCheck,
  cacheHitCheck,
  connectionsCheck,
  databaseSizeCheck,
  recoveryCheck,
  slowStatementsCheck,
  transactionsCheck,
  wraparoundCheck,
} from './database-checks.ts';
import { archiveBacklogCheck } from './archive-backlog.ts';
import { diskChecks, type HealthDisks } from './disk-checks.ts';
import { healthExitCode } from './judge.ts';
import { repositoryBackupCheck } from './repository-backup.ts';
import type { BackupRepo } from '../backup/repo.ts';
import { measure, round, runCheck, type BaseContext, type CheckContext, type CheckSpec, type Entry } from './measure.ts';
import { slotsCheck, standbysCheck } from './primary-checks.ts';
import { roleCheck } from './role-checks.ts';
import { standbyCheck } from './standby-checks.ts';
import { serverFacts, type HealthScope, type ServerFacts } from './queries.ts';
import { resolveHealthThresholds, type ThresholdName } from './thresholds.ts';
import { worstStatus, type HealthCheck, type HealthDocument } from './types.ts';

export { healthExitCode };
export type { HealthDisks, HealthScope };

/** Milliseconds each check may take before it becomes a `warn` entry. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 5000;

export interface HealthOptions {
  /** Overrides of the defaults and of `JEEX_HEALTH_*`; `null` turns one off. */
  thresholds?: { [K in ThresholdName]?: number | null };
  /** Where `JEEX_HEALTH_*` overrides are read. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The app's pool (`createDb(...).pool`): `pool:usage` and `pool:waiting`. */
  pool?: () => PoolState;
  /** The app's recent operation times (`createDb(...).operations`): `pool:operationP95` against the SLO. */
  operations?: () => OperationStats;
  /** A client for PgBouncer's admin console (`poolerAdmin(url)`): `pgbouncer:reachable`, `pgbouncer:clientsWaiting`, `pgbouncer:maxWait`. */
  pooler?: Sql;
  /**
   * The app's connections go through that PgBouncer (default true): then a PgBouncer that does
   * not answer fails `pgbouncer:reachable` (and the document); else it only warns.
   */
  poolerInAppPath?: boolean;
  /** A PgBouncer supervisor's state (`supervisePooler(...).state`): `pgbouncer:restarts`. */
  poolerSupervisor?: () => PoolerSupervisionState;
  /** drizzle-kit's output folder: `migrations:pending` (pending = warn, failed or changed = fail). */
  migrationsDir?: string;
  /** When the last good backup finished (undefined: none): `backup:age`. */
  lastBackup?: () => Promise<Date | undefined>;
  /**
   * A backup repository (`defaultRepo(localLayout())`): when `lastBackup` is not given and it
   * holds a backup, its newest verified one feeds `backup:age` (an empty one expects none).
   */
  backupRepo?: BackupRepo;
  /** Directories whose filesystem's free space is judged: `disk:dataFree`, `disk:archiveFree`. */
  disks?: HealthDisks;
  /** The backup schedule's state (`startBackupSchedule(...).state`): `backup:lastRun`. */
  backupSchedule?: () => BackupScheduleState;
  /** Each check's limit, ms (default 5000): a slower check becomes a `warn` entry. */
  timeoutMs?: number;
  /** Sessions, cache and statements of the connected database (default) or of every database. */
  scope?: HealthScope;
  now?: () => Date;
  serviceId?: string;
}

const version = packageVersion();

/** Checks that need PostgreSQL, in the order they run (one at a time, to borrow one connection). */
const DATABASE_CHECKS: CheckSpec[] = [connectionsCheck, transactionsCheck, cacheHitCheck, wraparoundCheck, recoveryCheck, standbyCheck, standbysCheck, slotsCheck, databaseSizeCheck, slowStatementsCheck, roleCheck];

/**
 * The health of PostgreSQL (and, when given, the app's pool, PgBouncer, the migrations and the
 * backups) as an `application/health+json` document. Every measurement is one entry under
 * `checks` with its status, time, thresholds and, when not pass, an output saying what to do.
 * It never throws for the database's sake: a check that errors or exceeds `timeoutMs` becomes a
 * `warn` entry, and a database that does not answer makes the document `fail` with
 * `postgresql:reachable` false. Run it as a role in `pg_monitor` to see every session.
 *
 * @example
 * const { sql, pool } = createDb();
 * const doc = await checkHealth(sql, { pool, migrationsDir: defaultMigrationsDir });
 * res.status(doc.status === 'fail' ? 503 : 200).type(HEALTH_CONTENT_TYPE).json(doc);
 */
export async function checkHealth(sql: Sql, options: HealthOptions = {}): Promise<HealthDocument> {
  const { thresholds, problems } = resolveHealthThresholds(options.thresholds, options.env ?? process.env);
  const notes: string[] = [];
  const base: BaseContext = {
    thresholds,
    timeoutMs: options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS,
    now: options.now ?? (() => new Date()),
    note: (text) => notes.push(text),
  };

  // The pool, PgBouncer and the backup do not need PostgreSQL to answer: measure them meanwhile.
  const independent = Promise.all([
    options.pool ? runCheck(poolCheck(options.pool), base) : [],
    options.operations ? runCheck(operationsCheck(options.operations), base) : [],
    options.pooler ? runCheck(poolerCheck(options.pooler, { inAppPath: options.poolerInAppPath ?? true }), base) : [],
    options.poolerSupervisor ? runCheck(poolerSupervisionCheck(options.poolerSupervisor), base) : [],
    options.lastBackup ? runCheck(backupCheck(options.lastBackup), base) : options.backupRepo ? runCheck(repositoryBackupCheck(options.backupRepo), base) : [],
    ...diskChecks(options.disks).map((spec) => runCheck(spec, base)),
    options.backupSchedule ? runCheck(backupScheduleCheck(options.backupSchedule), base) : [],
  ]);
  const database = await databaseEntries(sql, options, base);
  const entries: Entry[] = [...database, ...(await independent).flat()];

  if (problems.length > 0) {
    entries.push({
      key: 'health:thresholds',
      check: measure(base.now, {
        value: problems.length,
        status: 'warn',
        componentType: 'health',
        output: `invalid health thresholds (the defaults were used): ${problems.join('; ')}`,
      }),
    });
  }
  return healthDocument(entries, notes, options.serviceId);
}

async function databaseEntries(sql: Sql, options: HealthOptions, base: BaseContext): Promise<Entry[]> {
  let facts: ServerFacts;
  try {
    facts = await withTimeout(serverFacts(sql), base.timeoutMs, 'PostgreSQL');
  } catch (error) {
    const described = describeError(error);
    const check = measure(base.now, {
      value: false,
      status: 'fail',
      componentType: 'postgresql',
      output: `PostgreSQL cannot be queried: ${described.text}${described.hinted ? '' : " Check that the server runs (`jeex-db up` locally), and the URL's host, port, database and credentials."}`,
    });
    return [{ key: 'postgresql:reachable', check }];
  }
  const reachable = measure(base.now, { value: true, componentType: 'postgresql', componentId: facts.database });
  const entries: Entry[] = [{ key: 'postgresql:reachable', check: reachable }];
  const ctx: CheckContext = { ...base, sql, scope: options.scope ?? 'database', facts };
  entries.push(...(await runCheck(responseTimeCheck, ctx)));
  for (const spec of DATABASE_CHECKS) entries.push(...(await runCheck(spec, ctx)));
  if (facts.archiveMode === 'on' || facts.archiveMode === 'always') entries.push(...(await runCheck(archiveCheck, ctx)), ...(await runCheck(archiveBacklogCheck, ctx)));
  else base.note(`postgresql:archiveFailures: archive_mode is ${facts.archiveMode}, so WAL archiving is not checked`);
  if (options.migrationsDir) entries.push(...(await runCheck(migrationsCheck(options.migrationsDir), ctx)));
  return entries;
}

/** The round trip of `SELECT 1` on a connection that is already open. */
const responseTimeCheck: CheckSpec = {
  what: 'the response time',
  key: 'postgresql:responseTime',
  componentType: 'postgresql',
  run: async (ctx) => {
    const begun = performance.now();
    await withTimeout(ctx.sql`SELECT 1`.then(() => undefined), ctx.timeoutMs, 'SELECT 1');
    const ms = round(performance.now() - begun, 2);
    const { responseTimeWarnMs: warn, responseTimeFailMs: fail } = ctx.thresholds;
    return [
      {
        key: 'postgresql:responseTime',
        check: measure(ctx.now, {
          value: ms,
          unit: 'ms',
          limits: { warn, fail },
          componentType: 'postgresql',
          componentId: ctx.facts.database,
          output: `SELECT 1 took ${ms} ms: the server is overloaded (CPU, I/O: see pg_stat_activity) or the network to it is slow`,
        }),
      },
    ];
  },
};

/** Assemble the document: entries grouped by key, overall status the worst, outputs joined. */
export function healthDocument(entries: Entry[], notes: string[] = [], serviceId?: string): HealthDocument {
  const checks: Record<string, HealthCheck[]> = {};
  for (const { key, check } of entries) (checks[key] ??= []).push(check);
  const status = worstStatus(entries.map((e) => e.check.status));
  const doc: HealthDocument = { status, ...(version ? { version } : {}), ...(serviceId ? { serviceId } : {}), description: 'jeex-db: PostgreSQL health', checks };
  const outputs = [...entries.filter((e) => e.check.status === 'fail'), ...entries.filter((e) => e.check.status === 'warn')]
    .filter((e) => e.check.output)
    .map((e) => `${e.key}: ${e.check.output ?? ''}`);
  if (outputs.length > 0) doc.output = outputs.join('\n');
  if (notes.length > 0) doc.notes = notes;
  return doc;
}
