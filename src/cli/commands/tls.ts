import { ensureDevTls, type DevTlsResult } from '../../ops/index.ts';
import { localLayout, serverOsUser } from '../../stack/index.ts';
import { Command } from 'commander';
import { dataDirOption, osUserOption } from '../options.ts';
import { bold, dim, green, jsonOption, note, printJson, reportError, say } from '../output.ts';

interface InitFlags {
  dataDir: string;
  host: string[];
  osUser: string;
  json?: boolean;
}

/**
 * `jeex-db tls init`: the local development CA and a server certificate signed by it (created,
 * or reused; renewed when it ends within 30 days or lacks a --host). `jeex-db up` does the same
 * on its own; this is for adding host names, or for making the files before the first `up`.
 */
export function tlsCommand(): Command {
  const init = new Command('init')
    .description('create (or reuse) the development CA and the server certificate in <data dir>/tls/')
    .addOption(dataDirOption())
    .option('--host <name>', 'a host name or address the server certificate must cover besides localhost, 127.0.0.1 and ::1 (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .addOption(osUserOption())
    .addOption(jsonOption())
    .action(async (flags: InitFlags) => {
      const json = Boolean(flags.json);
      try {
        const as = await serverOsUser(flags.osUser);
        const result = await ensureDevTls({ dataDir: localLayout(flags.dataDir).root, hosts: flags.host, ...(as ? { as } : {}) });
        if (json) printJson({ ok: true, ...result });
        else printHuman(result);
      } catch (error) {
        reportError(error, json);
      }
    });
  return new Command('tls').description('TLS certificates of the local cluster').addCommand(init);
}

function printHuman(result: DevTlsResult): void {
  const verb = (status: string) => (status === 'reused' ? 'kept' : status);
  say(`${green('✔')} TLS files in ${result.dir}`);
  say(`  ${bold('CA')}          ${result.ca.file} ${dim(`(${verb(result.ca.status)}, until ${result.ca.notAfter.slice(0, 10)})`)}`);
  say(`              SHA-256 ${result.ca.fingerprint}`);
  say(`  ${bold('server')}      ${result.server.file} ${dim(`(${verb(result.server.status)}, until ${result.server.notAfter.slice(0, 10)})`)}`);
  say(`              SHA-256 ${result.server.fingerprint}`);
  say(`              for ${result.server.hosts.join(', ')}`);
  say(`  ${bold('key')}         ${result.server.keyFile} ${dim('(0600)')}`);
  if (result.server.reason) note(dim(`server certificate ${result.server.status}: ${result.server.reason}`));
  if (result.ca.status === 'renewed') note(`the CA was made again: clients must trust the new ${result.ca.file}`);
  if (result.changed) note(dim('a running cluster (and its PgBouncer) loads the new files at the next `jeex-db up`'));
  note(dim(`clients verify the server with sslmode=verify-full&sslrootcert=${result.ca.file} (the URLs of \`jeex-db up\` carry it)`));
}
