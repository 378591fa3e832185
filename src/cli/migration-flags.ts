import { type Command, InvalidArgumentError } from 'commander';
import { type Sql } from 'postgres';
import { connect } from '../index.ts';
import { durationExpected, parseDuration, requireUrl, resolveMigrationTarget, type MigrationTarget, type RunnerOptions } from '../migrate/index.ts';
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

/** The runner's knobs, shared by migrate, rollback, baseline and mark-applied. */
export function withRunnerOptions(command: Command): Command {
  return withTargetOptions(command)
    .option('--lock-timeout <duration>', 'wait this long for another runner to finish; 0 fails at once naming it', durationArg)
    .option('--ddl-lock-timeout <duration>', 'lock_timeout for migration statements (default 5s; a file may set its own)', durationArg)
    .option('--statement-timeout <duration>', 'statement_timeout for migration statements (default 15min)', durationArg)
    .option('--retries <n>', 'retries after a lock timeout, with backoff (default 3)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 20) throw new InvalidArgumentError('expected 0 to 20');
      return n;
    })
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
