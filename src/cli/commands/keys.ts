import { Command, Option } from 'commander';
import { formatKey, generateKey } from '../../crypto/keys.ts';
import { dim, jsonOption, note, printJson, reportError, say } from '../output.ts';

/**
 * `jeex-db keys generate`: a new random 32-byte key on stdout (base64, or hex), its id on stderr
 * with how to use it. Nothing is stored: the key goes where the operator puts it.
 */
export function keysCommand(): Command {
  const generate = new Command('generate')
    .description('print a new random AES-256 key (for JEEX_BACKUP_KEY or a key file of mode 600)')
    .addOption(new Option('--format <format>', 'how to write the key').choices(['base64', 'hex']).default('base64'))
    .addOption(jsonOption())
    .action((flags: { format: 'base64' | 'hex'; json?: boolean }) => {
      try {
        const key = generateKey();
        const text = formatKey(key, flags.format);
        if (flags.json) return printJson({ ok: true, key: text, keyId: key.id, format: flags.format });
        say(text);
        note(dim(`key id ${key.id}. Keep it out of the repository and the database: set JEEX_BACKUP_KEY to it, or write it to a file (chmod 600) named by JEEX_BACKUP_KEY_FILE.`));
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
  return new Command('keys').description('encryption keys (backups)').addCommand(generate);
}
