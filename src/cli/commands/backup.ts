import { resolve } from 'node:path';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { connect } from '../../index.ts';
import {
  backupRepo,
  defaultRepo,
  listBackups,
  pruneBackups,
  repairBackupRecord,
  resolveBackupTarget,
  takeBaseBackup,
  type BaseBackupProgress,
  type DamagedBackup,
  type PruneResult,
} from '../../ops/index.ts';
import { humanBytes, localLayout, parseBytes } from '../../stack/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { dataDirOption, repoOption, urlOption } from '../options.ts';
import { bold, dim, green, jsonOption, note, printJson, red, reportError, say } from '../output.ts';

interface BackupFlags {
  dataDir: string;
  repo?: string;
  url?: string;
  fast?: boolean;
  maxRate?: number;
  label?: string;
  json?: boolean;
}

/** `--max-rate 50MB`: bytes per second, at least 1 MiB/s. */
function rateArg(value: string): number {
  const bytes = parseBytes(value);
  if (bytes === undefined || bytes < 2 ** 20) throw new InvalidArgumentError('expected a rate of at least 1MB (per second), such as 50MB or 1GB');
  return bytes;
}

/** Progress on stderr: a bar redrawn in place on a TTY, a line per phase and per 10% when piped. */
function progressPrinter(json: boolean): (p: BaseBackupProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  let lastPhase = '';
  let lastTenth = -1;
  return (p) => {
    const share = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
    if (tty) {
      if (p.phase === 'copy') {
        const width = 30;
        const bar = '#'.repeat(Math.round(share * width)).padEnd(width, ' ');
        process.stderr.write(`\r${dim(`[${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${humanBytes(p.bytesDone)} / ${humanBytes(p.bytesTotal)} (${p.filesDone}/${p.filesTotal} files)`)}`);
      } else if (p.phase !== lastPhase) {
        if (lastPhase === 'copy') process.stderr.write('\n');
        note(dim(phaseText[p.phase]));
      }
    } else if (!json || p.phase !== lastPhase) {
      const tenth = Math.floor(share * 10);
      if (p.phase !== lastPhase) note(phaseText[p.phase]);
      else if (p.phase === 'copy' && tenth > lastTenth) note(`copied ${tenth * 10}% (${humanBytes(p.bytesDone)} of ${humanBytes(p.bytesTotal)})`);
      lastTenth = p.phase === 'copy' ? tenth : -1;
    }
    lastPhase = p.phase;
  };
}

const phaseText: Record<BaseBackupProgress['phase'], string> = {
  checkpoint: 'pg_backup_start: waiting for the checkpoint',
  copy: 'copying the data directory',
  stop: 'pg_backup_stop: waiting for the WAL to be archived',
  done: 'backup complete',
};

export function backupCommand(): Command {
  return new Command('backup')
    .description('take a base backup of the cluster into the backup repository (low impact by default)')
    .addOption(dataDirOption())
    .addOption(repoOption())
    .addOption(urlOption('copy', 'needs --repo'))
    .option('--fast', 'an immediate checkpoint: starts at once, but with an I/O burst')
    .addOption(new Option('--max-rate <rate>', 'read the data directory at most this fast, per second (e.g. 50MB)').argParser(rateArg))
    .option('--label <text>', "the backup's label (default: jeex-db <id>)")
    .addOption(jsonOption())
    .action(async (flags: BackupFlags) => {
      const json = Boolean(flags.json);
      try {
        const target = resolveBackupTarget(flags);
        const sql = connect(target.url, { max: 2, onnotice: () => {}, connection: { application_name: 'jeex-db backup' } });
        try {
          const { record, dir } = await takeBaseBackup(sql, {
            repo: target.repo,
            ...(target.dataDir ? { dataDir: target.dataDir } : {}),
            ...(flags.fast ? { fast: true } : {}),
            ...(flags.maxRate ? { maxRate: flags.maxRate } : {}),
            ...(flags.label ? { label: flags.label } : {}),
            onProgress: progressPrinter(json),
          });
          if (json) printJson({ ok: true, backup: record, dir });
          else {
            const seconds = (Date.parse(record.stoppedAt) - Date.parse(record.startedAt)) / 1000;
            say(`${green('backup')} ${bold(record.id)}: ${record.files} files, ${humanBytes(record.sizeBytes)} → ${humanBytes(record.storedBytes)} in ${seconds.toFixed(1)} s`);
            say(`WAL ${record.startLsn} → ${record.stopLsn} (${record.startWalFile} … ${record.stopWalFile}), in ${dir}`);
            say(record.encryption ? `encrypted with key ${record.encryption.keyId} (${record.encryption.algorithm})` : dim('not encrypted (set JEEX_BACKUP_KEY or JEEX_BACKUP_KEY_FILE to encrypt)'));
          }
        } finally {
          await sql.end({ timeout: 5 });
        }
      } catch (error) {
        reportError(error, json);
      }
    });
}

export function backupsCommand(): Command {
  const listCommand = new Command('list')
    .description('the backups in the repository and the recovery window')
    .addOption(dataDirOption())
    .addOption(repoOption())
    .addOption(jsonOption())
    .action(async (flags: { dataDir: string; repo?: string; json?: boolean }) => {
      try {
        const repo = flags.repo ? backupRepo(resolve(flags.repo)) : defaultRepo(localLayout(flags.dataDir));
        const result = await listBackups(repo);
        // A damaged record is a failure of the listing (exit 48), never a backup left out.
        if (result.damaged.length > 0) process.exitCode = exitCodeFor('BACKUP_RECORD_DAMAGED');
        if (flags.json) return printJson({ ok: result.damaged.length === 0, ...result, ...(result.damaged.length > 0 ? { exitCode: process.exitCode } : {}) });
        if (result.backups.length === 0 && result.damaged.length === 0) return say(`no backups in ${result.repo}`);
        printDamaged(result.damaged);
        if (result.backups.length === 0) return;
        say(bold(`${'id'.padEnd(17)}  ${'stopped'.padEnd(20)}  ${'stop LSN'.padEnd(12)}  ${'size'.padStart(10)}  ${'stored'.padStart(10)}  ${'verified'.padEnd(10)}  encryption`));
        for (const b of result.backups) {
          const verified = b.verified === 'ok' ? green('ok') : b.verified === 'failed' ? red('failed') : dim('unverified');
          say(`${b.id.padEnd(17)}  ${b.stoppedAt.slice(0, 19).padEnd(20)}  ${b.stopLsn.padEnd(12)}  ${humanBytes(b.sizeBytes).padStart(10)}  ${humanBytes(b.storedBytes).padStart(10)}  ${verified}${' '.repeat(Math.max(0, 10 - b.verified.length))}  ${b.encrypted ? `key ${b.keyId ?? '?'}` : dim('none')}`);
        }
        if (result.window) say(`recovery window: ${result.window.earliest} … ${result.window.latest} (${result.walSegments} WAL segments archived)`);
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
  const pruneCommand = new Command('prune')
    .description('apply the retention policy: delete old backups and the WAL only they needed')
    .addOption(dataDirOption())
    .addOption(repoOption())
    .addOption(new Option('--keep-count <n>', 'keep the newest N backups (default: JEEX_BACKUP_KEEP_COUNT, else 7)').argParser(countArg(true)))
    .addOption(new Option('--keep-days <n>', 'keep backups younger than N days (default: JEEX_BACKUP_KEEP_DAYS, else 14)').argParser(countArg(false)))
    .option('--dry-run', 'change nothing; show what would be deleted and why')
    .option('--yes', 'delete (without it, prune only shows what it would delete)')
    .addOption(jsonOption())
    .action(async (flags: { dataDir: string; repo?: string; keepCount?: number; keepDays?: number; dryRun?: boolean; yes?: boolean; json?: boolean }) => {
      try {
        // Deleting backups takes an explicit --yes; without it this is a dry run that says so.
        if (!flags.yes && !flags.dryRun) {
          flags.dryRun = true;
          if (!flags.json) note('dry run: nothing is deleted without --yes');
        }
        const repo = flags.repo ? backupRepo(resolve(flags.repo)) : defaultRepo(localLayout(flags.dataDir));
        const result = await pruneBackups(repo, {
          ...(flags.keepCount !== undefined ? { keepCount: flags.keepCount } : {}),
          ...(flags.keepDays !== undefined ? { keepDays: flags.keepDays } : {}),
          dryRun: Boolean(flags.dryRun),
        });
        if (flags.json) return printJson({ ok: true, repo: repo.root, ...result });
        printPrune(repo.root, result);
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
  const repairCommand = new Command('repair')
    .description("rebuild a backup's damaged or missing backup.json from its tarball, backup_manifest and the WAL archive")
    .addArgument(new Argument('<backup>', 'backup id (as `backups list` shows it)'))
    .addOption(dataDirOption())
    .addOption(repoOption())
    .option('--force', 'rebuild it even when backup.json is sound (e.g. after verify found it disagrees with the backup)')
    .addOption(jsonOption())
    .action(async (id: string, flags: { dataDir: string; repo?: string; force?: boolean; json?: boolean }) => {
      try {
        const repo = flags.repo ? backupRepo(resolve(flags.repo)) : defaultRepo(localLayout(flags.dataDir));
        const result = await repairBackupRecord(repo, id, { ...(flags.force ? { force: true } : {}) });
        if (flags.json) return printJson({ ok: true, ...result });
        if (!result.repaired) return say(`${green('ok')} backup ${bold(id)}: ${result.notes.join('; ')}`);
        say(`${green('repaired')} backup ${bold(id)}: ${result.previous}`);
        say(`  WAL ${result.record.startLsn} → ${result.record.stopLsn} (${result.record.startWalFile} … ${result.record.stopWalFile}), stopped ${result.record.stoppedAt}`);
        for (const line of result.notes) say(dim(`  ${line}`));
        if (result.keptAs) say(dim(`  the old record is kept as ${result.keptAs}`));
        say(`next: jeex-db verify ${id}`);
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
  return new Command('backups').description('the backup repository').addCommand(listCommand).addCommand(pruneCommand).addCommand(repairCommand);
}

/** Backups whose record is damaged: named with the file, the problem and the fix (stdout), then the error (stderr). */
function printDamaged(damaged: DamagedBackup[]): void {
  for (const d of damaged) say(`${red('DAMAGED'.padEnd(17))}  ${d.id}: ${d.recordFile}: ${d.problem}; its data (${d.tarball}) is still there: ${d.manifest ? `jeex-db backups repair ${d.id}` : 'no backup_manifest either, so it cannot be repaired; extract the tarball by hand'}`);
  if (damaged.length > 0) note(`${red('error')} ${dim('[BACKUP_RECORD_DAMAGED]')} ${damaged.length} backup(s) cannot be used until their record is repaired: ${damaged.map((d) => `jeex-db backups repair ${d.id}`).join(', ')}`);
}

/** `--keep-count 3`, `--keep-days 0.5`: 0 or more (whole for a count). */
function countArg(whole: boolean): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n))) {
      throw new InvalidArgumentError(whole ? 'expected a whole number of 0 or more' : 'expected a number of days, 0 or more');
    }
    return n;
  };
}

/** What goes and what stays, each with its reason; then the WAL and the bytes freed. */
function printPrune(root: string, r: PruneResult): void {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  say(`${bold(r.dryRun ? 'dry run' : 'pruned')} ${root}: keep the newest ${r.policy.keepCount} and those younger than ${r.policy.keepDays} days`);
  for (const warning of r.warnings) note(`${red('warning')} ${warning}`);
  for (const id of r.damaged) note(`${red('warning')} backup ${id} has a damaged record: it and its WAL are kept; run \`jeex-db backups repair ${id}\``);
  const deleted = new Set(r.deleted);
  const kept = new Set(r.kept);
  for (const [name, why] of Object.entries(r.reasons).sort(([a], [b]) => a.localeCompare(b))) {
    const action = deleted.has(name) ? red(verb.padEnd(12)) : kept.has(name) ? green('keep'.padEnd(12)) : dim('leave'.padEnd(12));
    say(`${action}  ${name.padEnd(25)}  ${dim(why)}`);
  }
  if (Object.keys(r.reasons).length === 0) say('no backups in the repository');
  const first = r.walDeleted[0];
  const last = r.walDeleted.at(-1);
  if (first && last) say(`WAL: ${verb} ${r.walDeleted.length} file(s) before ${r.walCutoff ?? '?'} (${first === last ? first : `${first} … ${last}`}), ${r.walKept} kept (.history files always)`);
  else say(`WAL: nothing to delete${r.walCutoff ? ` before ${r.walCutoff}` : ''}, ${r.walKept} file(s) kept`);
  if (r.archiveTempDeleted.length > 0) say(`WAL archive: ${verb} ${r.archiveTempDeleted.length} stale basic_archive temporary file(s) (${r.archiveTempDeleted.join(', ')})`);
  say(`${r.dryRun ? 'would free' : 'freed'} ${humanBytes(r.freedBytes)}${r.dryRun ? ' (nothing was changed)' : ''}`);
}
