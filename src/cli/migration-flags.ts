import { type Command, InvalidArgumentError } from 'commander';
import { type Sql } from 'postgres';
import { connect } from '../index.ts';
import { DEFAULT_TIMEOUTS, durationExpected, formatDuration, parseDuration, requireUrl, resolveMigrationTarget, type MigrationTarget, type RunnerOptions } from '../migrate/index.ts';
import { dataDirOption, drizzleConfigOption, jsonOption, migrationsDirOption, urlOption } from './options.ts';
import { progressReporter } from './output.ts';

export interface TargetFlags {
  url?: string;
  migrationsDir?: string;
  config?: string;
  dataDir?: string;
  json?: boolean;
}

export interface RunnerFlags extends TargetFlags {
  lockTimeout?: number;
  ddlLockTimeout?: number;
  statementTimeout?: number;
  retries?: number;
  restorePoint?: boolean;
}

/** `5s`, `10min`, `500ms`, `1h`, or a number of seconds (core/units.ts), in milliseconds. */
export function durationArg(value: string): number {
  const ms = parseDuration(value, { defaultUnit: 's' });
  if (ms === undefined) throw new InvalidArgumentError(`expected ${durationExpected({ defaultUnit: 's' })}`);
  return ms;
}

/** --url, --data-dir, --migrations-dir, --config, --json: where the migrations are and what to migrate. */
export function withTargetOptions(command: Command): Command {
  return command
    .addOption(urlOption('migrate'))
    .addOption(dataDirOption('the local cluster to migrate when there is no --url, DATABASE_URL or drizzle.config.ts URL'))
    .addOption(migrationsDirOption())
    .addOption(drizzleConfigOption())
    .addOption(jsonOption());
}

/** 100 tries of 1 s with backoff capped at 10 s: about 10 min, longer than any deploy should wait. */
const MAX_RETRIES = 100;

/** The runner's knobs, shared by migrate, rollback, baseline and mark-applied. */
export function withRunnerOptions(command: Command): Command {
  return withTargetOptions(command)
    .option('--lock-timeout <duration>', 'wait this long for another runner to finish; 0 fails at once naming it', durationArg)
    .option(
      '--ddl-lock-timeout <duration>',
      `how long each try waits for a table lock (default ${formatDuration(DEFAULT_TIMEOUTS.lockTimeoutMs)}): writers queue behind a waiting migration, so this is how long they may stall; keep it short on a table that is written to (a file may set its own)`,
      durationArg,
    )
    .option('--statement-timeout <duration>', `statement_timeout for migration statements (default ${formatDuration(DEFAULT_TIMEOUTS.statementTimeoutMs)})`, durationArg)
    .option(
      '--retries <n>',
      `retries after a lock timeout (default ${DEFAULT_TIMEOUTS.retries}: ${DEFAULT_TIMEOUTS.retries + 1} tries, 1 to 2 min in all), each after a random wait from 0 to a limit of ${formatDuration(DEFAULT_TIMEOUTS.backoffMs)} that doubles up to ${formatDuration(DEFAULT_TIMEOUTS.maxBackoffMs)}`,
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > MAX_RETRIES) throw new InvalidArgumentError(`expected 0 to ${MAX_RETRIES}`);
        return n;
      },
    )
    .option('--no-restore-point', 'do not create a restore point before changing anything');
}

export function runnerOptions(flags: RunnerFlags, migrationsDir: string): RunnerOptions {
  return {
    migrationsDir,
    onProgress: progressReporter(Boolean(flags.json)),
    ...(flags.lockTimeout !== undefined ? { lockWaitMs: flags.lockTimeout } : {}),
    ...(flags.ddlLockTimeout !== undefined ? { ddlLockTimeoutMs: flags.ddlLockTimeout } : {}),
    ...(flags.statementTimeout !== undefined ? { statementTimeoutMs: flags.statementTimeout } : {}),
    ...(flags.retries !== undefined ? { retries: flags.retries } : {}),
    ...(flags.restorePoint === false ? { restorePoint: false } : {}),
  };
}

/** Resolve the target, open a two-connection client to it, run `fn`, close the client. */
export async function withMigrationClient<T>(flags: TargetFlags, command: string, fn: (sql: Sql, target: MigrationTarget) => Promise<T>): Promise<T> {
  const target = await resolveMigrationTarget(flags);
  const sql = connect(requireUrl(target), { max: 2, onnotice: () => {}, connection: { application_name: `jeex-db ${command}` } });
  try {
    return await fn(sql, target);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
