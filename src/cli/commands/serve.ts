import { Command, Option } from 'commander';
import { maskUrl } from '../../index.ts';
import { DEFAULT_SERVE_PORT, resolveServeTargets, serveUntil, type ServeSettings } from '../../serve/index.ts';
import { stderrLogger } from '../logger.ts';
import { dataDirOption, intArg, urlOption } from '../options.ts';
import { dim, jsonOption, note, printJson, reportError } from '../output.ts';
import { addServeOptions } from '../serve-flags.ts';

/** serve's flags: what it runs (the library's settings, but the logger and version it makes) and where it connects. */
type ServeFlags = Omit<ServeSettings, 'logger' | 'version'> & { url?: string; appUrl?: string; poolerUrl?: string; dataDir: string; json?: boolean };

function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('serve /livez, /readyz and /health (and /metrics, /alerts), evaluate alert rules and export metrics until Ctrl-C')
    .addOption(new Option('--port <n>', 'port of the health server').argParser(intArg(0, 65535)).default(DEFAULT_SERVE_PORT))
    .addOption(urlOption('monitor'))
    .option('--app-url <url>', "the application's path, probed by /readyz (default: the URL createDb() resolves: the local app URL through PgBouncer)")
    .option('--pooler-url <url>', "PgBouncer's admin console (.../pgbouncer), whose pools /health judges (default: JEEX_DB_POOLER_CONSOLE_URL, else the local cluster's PgBouncer)", process.env.JEEX_DB_POOLER_CONSOLE_URL || undefined)
    .addOption(dataDirOption())
    .option('--no-migrations', 'do not check that the migrations are applied')
    .option('--backup-schedule <cron>', 'back up, verify and prune the local cluster on this cron schedule, e.g. "0 3 * * *" (default: JEEX_BACKUP_SCHEDULE; none)', process.env.JEEX_BACKUP_SCHEDULE || undefined)
    .addOption(new Option('--backup-keep-count <n>', 'with --backup-schedule: keep this many backups when pruning').argParser(intArg(1, 10_000)))
    .addOption(new Option('--backup-keep-days <n>', 'with --backup-schedule: keep backups this many days when pruning').argParser(intArg(1, 36_500)));
  return addServeOptions(command)
    .addOption(jsonOption())
    .action(async (flags: ServeFlags) => {
      const json = Boolean(flags.json);
      // Log lines (one JSON object each) go to stderr: stdout holds the one --json document.
      const logger = stderrLogger();
      try {
        const targets = resolveServeTargets(flags);
        await serveUntil({ ...flags, logger }, targets, stopSignal(), (url) => {
          const endpoints = { livez: `${url}/livez`, readyz: `${url}/readyz`, health: `${url}/health`, ...(flags.prometheus ? { metrics: `${url}/metrics` } : {}), ...(flags.alerts ? { alerts: `${url}/alerts` } : {}) };
          const backups = targets.backups && flags.backupSchedule ? { schedule: flags.backupSchedule, repo: targets.backups.repo.root } : undefined;
          if (json) printJson({ ok: true, url, endpoints, monitor: maskUrl(targets.monitorUrl), ...(targets.appUrl ? { app: maskUrl(targets.appUrl) } : {}), ...(backups ? { backups } : {}) });
          else {
            note(`serving ${Object.values(endpoints).join(' ')}`);
            if (backups) note(dim(`backups "${backups.schedule}" into ${backups.repo} (verified, pruned)`));
            note(dim(`monitoring ${maskUrl(targets.monitorUrl)}${targets.appUrl ? `; readiness through ${maskUrl(targets.appUrl)}` : ''}; Ctrl-C stops`));
          }
        });
      } catch (error) {
        reportError(error, json);
      } finally {
        logger.flush();
      }
    });
}
