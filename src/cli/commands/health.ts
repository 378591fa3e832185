import { Command, Option } from 'commander';
import { connect, maskSecrets } from '../../index.ts';
import { checkHealth, DEFAULT_HEALTH_TIMEOUT_MS, healthExitCode, poolerAdmin, resolveHealthTarget, type HealthDocument, type HealthStatus } from '../../ops/index.ts';
import { defaultMigrationsDir } from '../../migrate/index.ts';
import { dataDirOption, intArg, migrationsDirOption, urlOption } from '../options.ts';
import { EXIT, bold, dim, green, jsonOption, printJson, red, reportError, say, yellow } from '../output.ts';

interface HealthFlags {
  url?: string;
  dataDir?: string;
  migrationsDir?: string;
  migrations: boolean;
  timeout?: number;
  json?: boolean;
}

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
    .description(`check PostgreSQL (and the local PgBouncer and migrations); exit ${EXIT.OK} pass, ${EXIT.HEALTH_WARN} warn, ${EXIT.HEALTH_FAIL} fail (${EXIT.CONNECTION_FAILED}: no database to check)`)
    .addOption(urlOption('monitor'))
    .addOption(dataDirOption())
    .addOption(migrationsDirOption("drizzle-kit's output folder to compare with the database (default: the package's drizzle/)"))
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
            ...target.localChecks,
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
