import { Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_OS_USER, down } from '../../stack/index.ts';
import { jsonOption, printJson, reportError, say } from '../output.ts';

export function downCommand(): Command {
  return new Command('down')
    .description('stop the local cluster (the data is kept)')
    .option('--data-dir <dir>', 'where the local cluster lives', DEFAULT_DATA_DIR)
    .option('--os-user <name>', 'OS user PostgreSQL runs as when started as root', DEFAULT_OS_USER)
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
