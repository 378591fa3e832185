import { Command, Option } from 'commander';
import { maskUrl } from '../../index.ts';
import { backupRepo, defaultRepo, restoreBackup, type RestoreTarget } from '../../ops/index.ts';
import { localLayout, serverOsUser } from '../../stack/index.ts';
import { dataDirOption, intArg, repoOption } from '../options.ts';
import { dim, green, jsonOption, printJson, progressReporter, reportError, say, usageError } from '../output.ts';

interface RestoreFlags {
  to: string;
  dataDir: string;
  repo?: string;
  backup?: string;
  targetTime?: string;
  targetLsn?: string;
  targetXid?: string;
  targetName?: string;
  latest?: boolean;
  force?: boolean;
  start?: boolean;
  port?: number;
  timeout: number;
  json?: boolean;
}

/** The one target the flags ask for (none: --latest). */
export function targetFromFlags(flags: Pick<RestoreFlags, 'targetTime' | 'targetLsn' | 'targetXid' | 'targetName' | 'latest'>): RestoreTarget {
  const given = [flags.targetTime, flags.targetLsn, flags.targetXid, flags.targetName, flags.latest ? 'latest' : undefined].filter((v) => v !== undefined);
  if (given.length > 1) throw usageError('give one target: --target-time, --target-lsn, --target-xid, --target-name or --latest');
  if (flags.targetTime !== undefined) {
    const time = new Date(flags.targetTime);
    if (Number.isNaN(time.getTime())) throw usageError(`--target-time ${flags.targetTime} is not a time; use ISO 8601, e.g. 2026-11-25T10:00:00Z`);
    return { time };
  }
  if (flags.targetLsn !== undefined) {
    if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(flags.targetLsn)) throw usageError(`--target-lsn ${flags.targetLsn} is not an LSN like 0/3000108`);
    return { lsn: flags.targetLsn.toUpperCase() };
  }
  if (flags.targetXid !== undefined) {
    if (!/^\d+$/.test(flags.targetXid)) throw usageError(`--target-xid ${flags.targetXid} is not a transaction id`);
    return { xid: flags.targetXid };
  }
  if (flags.targetName !== undefined) return { name: flags.targetName };
  return { latest: true };
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a base backup into a new directory and replay the archived WAL to a point in time')
    .requiredOption('--to <dir>', 'the new cluster directory (its pgdata/ and log/ go there)')
    .addOption(dataDirOption('the local cluster whose backups to use'))
    .addOption(repoOption())
    .option('--backup <id>', 'restore this backup (default: the newest that ends before the target)')
    .option('--target-time <time>', 'stop at this time (ISO 8601)')
    .option('--target-lsn <lsn>', 'stop at this WAL position, e.g. 0/3000108')
    .option('--target-xid <xid>', 'stop after this transaction')
    .option('--target-name <name>', 'stop at this restore point (e.g. "jeex-db before 0003_x", made by migrate)')
    .option('--latest', 'replay all the archived WAL (the default)')
    .option('--force', 'delete what --to holds first')
    .option('--start', 'leave the restored server running and print its URL')
    .addOption(new Option('--port <n>', 'port of the restored server (default: a free one)').argParser(intArg(1, 65535)))
    .addOption(new Option('--timeout <seconds>', 'how long recovery may take').argParser(intArg(1, 86_400)).default(600))
    .addOption(jsonOption())
    .action(async (flags: RestoreFlags) => {
      const json = Boolean(flags.json);
      try {
        const target = targetFromFlags(flags);
        const repo = flags.repo ? backupRepo(flags.repo) : defaultRepo(localLayout(flags.dataDir));
        const as = await serverOsUser();
        const result = await restoreBackup({
          repo,
          to: flags.to,
          target,
          force: Boolean(flags.force),
          timeoutSeconds: flags.timeout,
          sourceDataDir: flags.dataDir,
          onProgress: progressReporter(json),
          ...(flags.backup ? { backupId: flags.backup } : {}),
          ...(flags.start ? { start: { port: flags.port ?? 0 } } : {}),
          ...(as ? { as } : {}),
        });
        if (json) printJson({ ok: true, ...result });
        else {
          say(`${green('✔')} restored backup ${result.backupId} into ${result.pgdata} ${dim(`(${(result.durationMs / 1000).toFixed(1)}s)`)}`);
          say(`  target      ${result.target}`);
          say(`  stopped at  LSN ${result.reached.lsn}, timeline ${result.reached.timeline}${result.reached.lastCommitAt ? `, last commit ${result.reached.lastCommitAt}` : ''}`);
          if (result.reached.replayedTo) say(`  replayed    WAL to ${result.reached.replayedTo}${'latest' in target ? ' (the end of the archived WAL)' : ''}`);
          if (result.state === 'running') say(`  running on  port ${result.port}${result.url ? ` ${maskUrl(result.url)} (full URL: jeex-db url superuser --data-dir ${flags.to})` : ''}`);
          else say(dim(`  stopped; start it with: jeex-db up --data-dir ${flags.to} (archiving to ${flags.to}/backups)`));
        }
      } catch (error) {
        reportError(error, json);
      }
    });
}
