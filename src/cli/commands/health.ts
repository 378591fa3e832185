import { Command, Option } from 'commander';
import { connect, maskSecrets } from '../../index.ts';
import { checkHealth, DEFAULT_HEALTH_TIMEOUT_MS, healthExitCode, poolerAdmin, resolveHealthTarget, type HealthDocument, type HealthStatus } from '../../ops/index.ts';
import { defaultMigrationsDir } from '../../migrate/index.ts';
import { DEFAULT_DATA_DIR } from '../../stack/index.ts';
import { intArg } from '../options.ts';
import { bold, dim, green, jsonOption, printJson, red, reportError, say } from '../output.ts';

interface HealthFlags {
  url?: string;
  dataDir?: string;
  migrationsDir?: string;
  migrations: boolean;
  timeout?: number;
  json?: boolean;
}

const yellow = (text: string) => (process.stderr.isTTY && !process.env.NO_COLOR ? `\u001b[33m${text}\u001b[0m` : text);
const paint: Record<HealthStatus, (text: string) => string> = { pass: green, warn: yellow, fail: red };

/** The document as a compact table: status, key, value and unit, and what to do. */
export function healthTable(doc: HealthDocument): string[] {
  const rows = Object.entries(doc.checks).flatMap(([key, list]) =>
    list.map((c) => ({
      status: c.status,
      key: c.componentId && list.length > 1 ? `${key} [${c.componentId}]` : key,
      value: `${c.observedValue === null ? '–' : String(c.observedValue)}${c.observedUnit && c.observedUnit !== '1' ? ` ${c.observedUnit}` : ''}`,
      output: c.output ?? '',
    })),
  );
  const keyWidth = Math.max(3, ...rows.map((r) => r.key.length));
  const valueWidth = Math.max(5, ...rows.map((r) => r.value.length));
  const lines = [bold(`${'status'.padEnd(6)}  ${'key'.padEnd(keyWidth)}  ${'value'.padEnd(valueWidth)}  output`)];
  for (const r of rows) lines.push(`${paint[r.status](r.status.padEnd(6))}  ${r.key.padEnd(keyWidth)}  ${r.value.padEnd(valueWidth)}  ${r.output}`.trimEnd());
  for (const text of doc.notes ?? []) lines.push(dim(`note: ${text}`));
  lines.push(`${bold('status:')} ${paint[doc.status](doc.status)}`);
  return lines;
}

export function healthCommand(): Command {
  return new Command('health')
    .description('check PostgreSQL (and the local PgBouncer and migrations); exit 0 pass, 1 warn, 2 fail')
    .option('--url <url>', 'database to check (default: JEEX_DB_MONITOR_URL, DATABASE_URL, then the local cluster as its monitoring role)')
    .option('--data-dir <dir>', 'where the local cluster lives', process.env.JEEX_DB_DATA_DIR ?? DEFAULT_DATA_DIR)
    .option('--migrations-dir <dir>', "drizzle-kit's output folder to compare with the database (default: the package's drizzle/)")
    .option('--no-migrations', 'do not check the migrations')
    .addOption(new Option('--timeout <ms>', 'limit for each check, in ms').argParser(intArg(1, 600_000)).default(DEFAULT_HEALTH_TIMEOUT_MS))
    .addOption(jsonOption())
    .action(async (flags: HealthFlags) => {
      try {
        const target = resolveHealthTarget({ ...(flags.url ? { url: flags.url } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}) });
        const timeoutMs = flags.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS;
        const sql = connect(target.url, {
          max: 2,
          onnotice: () => {},
          connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
          connection: { application_name: 'jeex-db health' },
        });
        const admin = target.poolerConsoleUrl ? poolerAdmin(target.poolerConsoleUrl) : undefined;
        let doc: HealthDocument;
        try {
          doc = await checkHealth(sql, {
            timeoutMs,
            ...(admin ? { pooler: admin } : {}),
            ...(flags.migrations ? { migrationsDir: flags.migrationsDir ?? defaultMigrationsDir } : {}),
          });
        } finally {
          await Promise.all([sql.end({ timeout: 1 }), admin?.end({ timeout: 1 })]);
        }
        process.exitCode = healthExitCode(doc.status);
        if (flags.json) printJson(doc);
        else for (const line of healthTable(doc)) say(maskSecrets(line));
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
