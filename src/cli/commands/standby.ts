import { Command, Option } from 'commander';
import { createStandby, promote } from '../../stack/index.ts';
import { dataDirOption, intArg } from '../options.ts';
import { dim, green, jsonOption, printJson, progressReporter, reportError, say, usageError, yellow } from '../output.ts';

interface StandbyFlags {
  dataDir: string;
  from: string;
  port?: number;
  name?: string;
  sync?: boolean;
  reseed?: boolean;
  backup: string;
  pooler: boolean;
  timeout: number;
  json?: boolean;
}

export function standbyCommand(): Command {
  return new Command('standby')
    .description('make --data-dir a streaming hot standby of the primary --from (seeded from a base backup, TLS, its own slot) and start it')
    .addOption(dataDirOption("the standby's data directory (not the primary's)"))
    .requiredOption('--from <dir|url>', "the primary: its data directory, or a superuser URL of a jeex-db cluster on this machine")
    .addOption(new Option('--port <n>', "the standby's port (default: the one it had, else a free one)").argParser(intArg(1, 65535)))
    .option('--name <name>', "its name on the primary (application_name and slot; default standby_<port>)")
    .option('--sync', "add it to the primary's quorum of synchronous standbys: no acknowledged commit is lost with the primary, each commit waits for it, and every commit blocks while no synchronous standby streams (docs/ha.md)")
    .option('--reseed', 'replace the cluster in --data-dir (a diverged or replaced old primary) with a fresh copy of the primary; the backups beside it are kept')
    .addOption(new Option('--backup <which>', 'seed from a new fast base backup, or the newest one in the primary\'s repository').choices(['new', 'newest']).default('new'))
    .option('--no-pooler', 'no PgBouncer in front of the standby')
    .addOption(new Option('--timeout <seconds>', 'how long the standby may take to stream').argParser(intArg(1, 86_400)).default(120))
    .addOption(jsonOption())
    .action(async (flags: StandbyFlags) => {
      const json = Boolean(flags.json);
      try {
        if (!flags.from.trim()) throw usageError('--from names the primary: its data directory or a superuser URL');
        const result = await createStandby({
          dataDir: flags.dataDir,
          from: flags.from,
          backup: flags.backup === 'newest' ? 'newest' : 'new',
          pooler: flags.pooler,
          timeoutSeconds: flags.timeout,
          onProgress: progressReporter(json),
          ...(flags.port ? { port: flags.port } : {}),
          ...(flags.name ? { name: flags.name } : {}),
          ...(flags.sync ? { sync: true } : {}),
          ...(flags.reseed ? { reseed: true } : {}),
        });
        if (json) {
          const { up: started, ...rest } = result;
          printJson({ ok: true, ...rest, ports: started.ports, tls: started.tls });
          return;
        }
        say(`${green('✔')} ${result.dataDir} is a standby of ${result.primary.dataDir} (${result.how}${result.backupId ? ` from backup ${result.backupId}` : ''}) ${dim(`(${(result.durationMs / 1000).toFixed(1)}s)`)}`);
        say(`  streaming   ${result.streaming.status} as ${result.name} (slot ${result.slot}), ${result.streaming.lagBytes} bytes behind`);
        say(`  listening   ${result.up.host ?? '127.0.0.1'}:${result.port}${result.up.ports?.pgbouncer ? `, PgBouncer ${result.up.ports.pgbouncer} (sends to the primary)` : ''}`);
        say(dim(`  read-only URLs: jeex-db url readonly --data-dir ${result.dataDir}; promote it: jeex-db promote --data-dir ${result.dataDir}`));
        for (const note of result.notes) say(yellow(`  ! ${note}`));
      } catch (error) {
        reportError(error, json);
      }
    });
}

interface PromoteFlags {
  dataDir: string;
  repoint?: string[];
  timeout: number;
  json?: boolean;
}

export function promoteCommand(): Command {
  return new Command('promote')
    .description('promote the standby in --data-dir to primary: prints its new timeline and LSN, points the PgBouncers at it, marks the old primary superseded')
    .addOption(dataDirOption("the standby's data directory"))
    .option('--repoint <dir...>', "data directories whose PgBouncer to point at it (default: its own and the old primary's)")
    .addOption(new Option('--timeout <seconds>', 'how long promotion may take').argParser(intArg(1, 3600)).default(60))
    .addOption(jsonOption())
    .action(async (flags: PromoteFlags) => {
      const json = Boolean(flags.json);
      try {
        const result = await promote({ dataDir: flags.dataDir, timeoutSeconds: flags.timeout, onProgress: progressReporter(json), ...(flags.repoint ? { repoint: flags.repoint } : {}) });
        if (json) {
          printJson({ ok: true, ...result });
          return;
        }
        say(`${green('✔')} ${result.dataDir} is the primary: timeline ${result.timeline}, LSN ${result.lsn} ${dim(`(promoted in ${Math.round(result.promoteMs)} ms)`)}`);
        for (const r of result.repointed) say(`  PgBouncer of ${r.dir}: ${r.status === 'unchanged' ? 'already sends here' : `${r.from ? `${r.from.host}:${r.from.port} -> ` : ''}${r.to.host}:${r.to.port} (${r.status})`}`);
        if (result.formerPrimary?.dataDir) say(dim(`  the old primary ${result.formerPrimary.dataDir} will not start as a primary; re-seed it: jeex-db standby --data-dir ${result.formerPrimary.dataDir} --from ${result.dataDir} --reseed`));
        for (const note of result.notes) say(yellow(`  ! ${note}`));
      } catch (error) {
        reportError(error, json);
      }
    });
}
