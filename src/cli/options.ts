import { DEFAULT_ROLE_PREFIX } from '../ops/index.ts';
import { DATA_DIR_ENV, DEFAULT_DATA_DIR, DEFAULT_OS_USER, parseBytes, resolveDataDir } from '../stack/index.ts';
import { type Command, InvalidArgumentError, Option } from 'commander';

export function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function bytesArg(value: string): number {
  const bytes = parseBytes(value);
  if (bytes === undefined || bytes < 256 * 2 ** 20) throw new InvalidArgumentError('expected a size of at least 256MiB, such as 512MiB or 4GiB');
  return bytes;
}

/*
 * The flags several commands take are made here and nowhere else, so each means the same and
 * reads the same environment variable in every command. test/unit/cli-options.test.ts walks the
 * whole program and fails on a flag of SHARED_FLAGS declared by hand, and on a command that
 * finds the local cluster without --data-dir.
 */

/** The long names of the flags defined only here. */
export const SHARED_FLAGS = ['--data-dir', '--url', '--json', '--os-user', '--migrations-dir', '--config', '--repo', '--memory', '--cpus', '--max-connections', '--prefix'] as const;

const made = new WeakSet<Option>();
const shared = (option: Option): Option => {
  made.add(option);
  return option;
};

/** Whether `option` came from one of the functions here (for the test that walks the program). */
export function isSharedOption(option: Option): boolean {
  return made.has(option);
}

/** `--json`: exactly one JSON document on stdout, nothing else there. */
export const jsonOption = (): Option => shared(new Option('--json', 'print one JSON document on stdout (for scripts)'));

/**
 * `--data-dir <dir>`: the local cluster. The flag, else JEEX_DB_DATA_DIR, else .jeex-db: the
 * order `resolveDataDir` gives createDb(), the migration target and drizzle.config.ts, through
 * the same function (an empty value counts as unset there and here).
 */
export function dataDirOption(description = 'where the local cluster lives'): Option {
  return shared(
    new Option('--data-dir <dir>', description)
      .env(DATA_DIR_ENV)
      .default(DEFAULT_DATA_DIR)
      .argParser((value: string) => resolveDataDir(value)),
  );
}

/**
 * After `--data-dir` on the command line, the process's JEEX_DB_DATA_DIR says the same, so what
 * reads the variable in this process (a drizzle.config.ts loaded by the migration commands, a
 * createDb() of the library) finds the cluster the flag names, not the one the variable named.
 */
export function exportDataDirFlag(actionCommand: Command): void {
  for (let command: Command | null = actionCommand; command; command = command.parent) {
    if (command.getOptionValueSource('dataDir') === 'cli') {
      process.env[DATA_DIR_ENV] = command.getOptionValue('dataDir') as string;
      return;
    }
  }
}

/**
 * What `--url` points at, and what stands in for it when it is not given. The environment is
 * read where the library reads it (resolveMigrationTarget, resolveHealthTarget, createDb), in
 * the order written here; JEEX_DB_ADMIN_URL, which no library function reads, is bound to the
 * flag itself.
 */
const URL_TARGETS = {
  migrate: { what: 'the database to migrate', otherwise: 'DATABASE_URL, drizzle.config.ts, then the local cluster as its migrator role' },
  monitor: { what: 'the database to check', otherwise: 'JEEX_DB_MONITOR_URL, DATABASE_URL, then the local cluster as its monitoring role' },
  examine: { what: 'the database to examine', otherwise: 'JEEX_DB_MONITOR_URL, DATABASE_URL, then the local cluster as its superuser' },
  app: { what: 'the database', otherwise: 'DATABASE_URL, the PG* variables, then the local cluster as its app role, as createDb() does' },
  admin: { what: 'a superuser URL of another server', env: 'JEEX_DB_ADMIN_URL', otherwise: 'the local cluster' },
  copy: { what: 'a superuser URL of another server on this machine, whose data_directory is copied', otherwise: 'the local cluster' },
} as const satisfies Record<string, { what: string; otherwise: string; env?: string }>;

export type UrlTarget = keyof typeof URL_TARGETS;

/**
 * `--url <url>` for one kind of target (see URL_TARGETS); `more` adds what the command does with
 * it. The flag always wins over the environment.
 */
export function urlOption(target: UrlTarget, more?: string): Option {
  const spec: { what: string; otherwise: string; env?: string } = URL_TARGETS[target];
  const option = new Option('--url <url>', `${spec.what} (default: ${spec.otherwise})${more ? `; ${more}` : ''}`);
  return shared(spec.env ? option.env(spec.env) : option);
}

/** `--os-user <name>`: whom PostgreSQL runs as when jeex-db is started as root. */
export const osUserOption = (): Option => shared(new Option('--os-user <name>', 'OS user PostgreSQL runs as when jeex-db is started as root').default(DEFAULT_OS_USER));

/** `--migrations-dir <dir>`; `description` for a command that does not read drizzle.config.ts. */
export const migrationsDirOption = (description = "drizzle-kit's output folder (default: `out` of drizzle.config.ts, else the package's drizzle/)"): Option =>
  shared(new Option('--migrations-dir <dir>', description));

/** `--config <file>`: the drizzle-kit config the migration commands read. */
export const drizzleConfigOption = (): Option => shared(new Option('--config <file>', 'drizzle.config.ts to read (default: ./drizzle.config.ts when present)'));

/** `--repo <dir>`: the backup repository. */
export const repoOption = (): Option => shared(new Option('--repo <dir>', 'the backup repository (default: backups/ in the data dir)'));

/** `--prefix <prefix>`: the role names on another server (`roles apply --url`, `roles rotate --url`). */
export const rolePrefixOption = (): Option =>
  shared(new Option('--prefix <prefix>', 'with --url: the roles are <prefix>_owner, <prefix>_app, ...; a role kind such as app stands for <prefix>_app').default(DEFAULT_ROLE_PREFIX));

/** `--memory`, `--cpus`, `--max-connections`: the machine the server settings are derived for (`up`, `config`). */
export function addMachineOptions(command: Command): Command {
  return command
    .addOption(shared(new Option('--memory <size>', 'memory to tune for, e.g. 2GiB (default: this machine or its cgroup limit)').argParser(bytesArg)))
    .addOption(shared(new Option('--cpus <n>', 'CPUs to tune for (default: this machine)').argParser(intArg(1, 1024))))
    .addOption(shared(new Option('--max-connections <n>', 'override the derived max_connections').argParser(intArg(10, 10000))));
}
