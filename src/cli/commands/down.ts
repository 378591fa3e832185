import { Command } from 'commander';
import { down } from '../../stack/index.ts';
import { dataDirOption, osUserOption } from '../options.ts';
import { jsonOption, printJson, reportError, say } from '../output.ts';

export function downCommand(): Command {
  return new Command('down')
    .description('stop the local cluster (the data is kept)')
    .addOption(dataDirOption())
    .addOption(osUserOption())
    .addOption(jsonOption())
    .action(async (flags: { dataDir: string; osUser: string; json?: boolean }) => {
      try {
        const result = await down({ dataDir: flags.dataDir, osUser: flags.osUser });
        if (flags.json) printJson({ ok: true, ...result });
        else {
          if (result.poolerStopped) say(`stopped PgBouncer in ${result.dataDir}`);
          say(result.stopped ? `stopped PostgreSQL in ${result.dataDir}` : `PostgreSQL in ${result.dataDir} was not running`);
        }
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
