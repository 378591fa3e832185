import { Argument, Command } from 'commander';
import { JeexDbError } from '../../index.ts';
import { backupRepo, defaultRepo, verifyBackup } from '../../ops/index.ts';
import { localLayout, serverOsUser } from '../../stack/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { dataDirOption, repoOption } from '../options.ts';
import { green, jsonOption, printJson, progressReporter, red, reportError, say } from '../output.ts';

interface VerifyFlags {
  dataDir: string;
  repo?: string;
  restore: boolean;
  json?: boolean;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify a backup: files against its manifest, the WAL it needs, and a restore into a scratch server checked with amcheck')
    .addArgument(new Argument('[backup]', 'backup id (default: the newest)'))
    .addOption(dataDirOption('the local cluster whose backups to verify'))
    .addOption(repoOption())
    .option('--no-restore', 'check the files and the WAL only (no scratch server)')
    .addOption(jsonOption())
    .action(async (id: string | undefined, flags: VerifyFlags) => {
      const json = Boolean(flags.json);
      try {
        const repo = flags.repo ? backupRepo(flags.repo) : defaultRepo(localLayout(flags.dataDir));
        const as = await serverOsUser();
        const result = await verifyBackup(repo, id, { sourceDataDir: flags.dataDir, restore: flags.restore, onProgress: progressReporter(json), ...(as ? { as } : {}) });
        // Damaged WAL has its own code: the backup may be fine, the point-in-time recovery after it is not.
        const code = result.walDamage ? 'BACKUP_WAL_DAMAGED' : 'BACKUP_VERIFY_FAILED';
        if (!result.ok) process.exitCode = exitCodeFor(code);
        if (json) {
          printJson({
            ok: result.ok,
            id: result.id,
            steps: result.steps,
            problems: result.problems,
            ...(result.walDamage ? { walDamage: result.walDamage } : {}),
            ...(result.ok ? {} : { code, exitCode: process.exitCode }),
          });
          return;
        }
        for (const step of result.steps) say(`  ${step}`);
        if (result.ok) say(`${green('✔')} backup ${result.id} verified`);
        else {
          for (const problem of result.problems) say(`  ${red('✗')} ${problem}`);
          reportError(
            result.walDamage
              ? new JeexDbError('BACKUP_WAL_DAMAGED', `backup ${result.id} failed verification: the archived WAL is damaged in ${result.walDamage.segment} at offset ${result.walDamage.offset} (LSN ${result.walDamage.lsn})`, {
                  hint: `What was committed after that point cannot be recovered from this archive: take a new base backup now (\`jeex-db backup\`) and verify it; keep ${result.walDamage.segment} for forensics.`,
                })
              : new JeexDbError('BACKUP_VERIFY_FAILED', `backup ${result.id} failed verification (${result.problems.length} problem(s))`, {
                  hint: 'Take a new backup (`jeex-db backup`) and verify it; keep this one until the new one verifies.',
                }),
            false,
          );
        }
      } catch (error) {
        reportError(error, json);
      }
    });
}
