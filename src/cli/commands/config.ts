import { Command, Option } from 'commander';
import { pgbouncerTemplate } from '../../ops/index.ts';
import { deriveSettings, detectMachine, humanBytes, renderConf } from '../../stack/index.ts';
import { bold, dim, jsonOption, printJson, reportError, say } from '../output.ts';
import { addMachineOptions } from '../options.ts';

interface ConfigFlags {
  explain?: boolean;
  json?: boolean;
  format: 'table' | 'conf' | 'pgbouncer';
  memory?: number;
  cpus?: number;
  maxConnections?: number;
  storage: 'ssd' | 'hdd';
  preparedStatements?: boolean;
}

export function configCommand(): Command {
  const command = new Command('config')
    .description('show the server settings derived from this machine (what `up` writes to jeex-tuning.conf)')
    .option('--explain', 'say why each value was chosen')
    .addOption(
      new Option('--format <format>', 'table, conf for a postgresql.conf fragment, or pgbouncer for a pgbouncer.ini in front of it')
        .choices(['table', 'conf', 'pgbouncer'])
        .default('table'),
    );
  return addMachineOptions(command)
    .addOption(new Option('--storage <kind>', 'disk kind').choices(['ssd', 'hdd']).default('ssd'))
    .option('--prepared-statements', 'with --format pgbouncer: PgBouncer 1.21+, keep prepared statements (max_prepared_statements)')
    .addOption(jsonOption())
    .action((flags: ConfigFlags) => {
      try {
        const detected = detectMachine();
        const machine = {
          memoryBytes: flags.memory ?? detected.memoryBytes,
          cpus: flags.cpus ?? detected.cpus,
          storage: flags.storage,
        };
        const settings = deriveSettings(machine, flags.maxConnections ? { maxConnections: flags.maxConnections } : {});
        const source = `${humanBytes(machine.memoryBytes)} memory (${flags.memory ? '--memory' : detected.source.memory}), ${machine.cpus} CPUs (${flags.cpus ? '--cpus' : detected.source.cpus}), ${machine.storage}`;
        if (flags.json) {
          printJson({ ok: true, machine: { ...machine, source }, settings });
          return;
        }
        if (flags.format === 'pgbouncer') {
          const maxConnections = Number(settings.find((s) => s.name === 'max_connections')?.value);
          process.stdout.write(pgbouncerTemplate({ serverMaxConnections: maxConnections, cpus: machine.cpus, preparedStatements: Boolean(flags.preparedStatements) }));
          return;
        }
        if (flags.format === 'conf') {
          process.stdout.write(renderConf(settings, ['jeex-tuning.conf, written by `jeex-db config --format conf`.', `Derived for: ${source}.`]));
          return;
        }
        say(`${bold('derived for')} ${source}`);
        const width = Math.max(...settings.map((s) => s.name.length));
        for (const setting of settings) {
          say(`  ${setting.name.padEnd(width)}  ${setting.value}`);
          if (flags.explain) say(dim(`  ${' '.repeat(width)}  ${setting.reason}`));
        }
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
