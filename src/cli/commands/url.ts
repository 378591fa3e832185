import { Argument, Command } from 'commander';
import { JeexDbError } from '../../index.ts';
import { LOCAL_LOGIN_ROLES, localLayout, localUrl, type LocalRole } from '../../stack/index.ts';
import { dataDirOption } from '../options.ts';
import { jsonOption, printJson, reportError, say } from '../output.ts';

export function urlCommand(): Command {
  return new Command('url')
    .description('print the full URL (with password) of a local role, e.g. psql "$(jeex-db url superuser)"')
    .addArgument(new Argument('[role]', 'which role').choices(LOCAL_LOGIN_ROLES).default('app'))
    .addOption(dataDirOption())
    .option('--direct', 'the app role straight to PostgreSQL, not through PgBouncer')
    .addOption(jsonOption())
    .action((role: LocalRole, flags: { dataDir: string; direct?: boolean; json?: boolean }) => {
      try {
        const url = localUrl(localLayout(flags.dataDir), role, { direct: Boolean(flags.direct) });
        if (!url) {
          throw new JeexDbError('CONNECTION_FAILED', `no local cluster in ${localLayout(flags.dataDir).root}`, {
            hint: 'Start one with `jeex-db up`, or pass --data-dir.',
          });
        }
        if (flags.json) printJson({ ok: true, role, url });
        else say(url);
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
