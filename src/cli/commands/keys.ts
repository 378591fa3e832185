import { Command, Option } from 'commander';
import { createDb, formatKey, generateKey, isJeexDbError, type ColumnCipher, type JeexDb } from '../../index.ts';
import { DEFAULT_ROTATION_BATCH_SIZE as DEFAULT_BATCH_SIZE, keyStatus, rotateBlindIndex, rotateDataKey, type KeyStatusResult, type RotationProgress } from '../../ops/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { dataDirOption, intArg, urlOption } from '../options.ts';
import { EXIT, bold, dim, green, jsonOption, note, printJson, progressReporter, red, reportError, say } from '../output.ts';

interface ConnectFlags {
  url?: string;
  dataDir: string;
  json?: boolean;
}

const connectOptions = (command: Command) =>
  command
    .addOption(urlOption('app'))
    .addOption(dataDirOption('where the local cluster and its keys/ live'))
    .addOption(jsonOption());

/** The package's client for the command: the URL and keys as a service would resolve them. */
function connect(flags: ConnectFlags): JeexDb {
  return createDb({ ...(flags.url ? { url: flags.url } : {}), max: 2, applicationName: 'jeex-db keys' }, { ...process.env, JEEX_DB_DATA_DIR: flags.dataDir });
}

/** At most one progress line a second, and the last one. */
function throttled(report: (message: string) => void): (progress: RotationProgress) => void {
  let last = 0;
  return ({ table, done, total }) => {
    if (Date.now() - last < 1000 && done < total) return;
    last = Date.now();
    report(`${table}: ${done.toLocaleString('en')} of ${total.toLocaleString('en')} rows`);
  };
}

function generate(): Command {
  return new Command('generate')
    .description('print a new random AES-256 key (for JEEX_BACKUP_KEY, JEEX_DATA_KEY, JEEX_BLIND_INDEX_KEY or a key file of mode 600)')
    .addOption(new Option('--format <format>', 'how to write the key').choices(['base64', 'hex']).default('base64'))
    .addOption(jsonOption())
    .action((flags: { format: 'base64' | 'hex'; json?: boolean }) => {
      try {
        const key = generateKey();
        const text = formatKey(key, flags.format);
        if (flags.json) return printJson({ ok: true, key: text, keyId: key.id, format: flags.format });
        say(text);
        note(
          dim(
            `key id ${key.id}. Keep it out of the repository and the database: set JEEX_BACKUP_KEY (backups), JEEX_DATA_KEY (users' email and name) or JEEX_BLIND_INDEX_KEY (email lookups; a key of its own) to it, or write it to a file (chmod 600) named by the matching _FILE variable.`,
          ),
        );
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}

function rotate(): Command {
  return connectOptions(
    new Command('rotate')
      .description(
        `re-encrypt users' email and name under the first key of JEEX_DATA_KEYS ("new,old"), in batches, while the application keeps reading; exit ${EXIT.KEY_ROTATION_INCOMPLETE} when rows are left (rerun to continue)`,
      )
      .addOption(new Option('--batch-size <rows>', 'rows per batch (one short transaction each)').argParser(intArg(1, 100_000)).default(DEFAULT_BATCH_SIZE))
      .option('--dry-run', 'count the rows that would change, change nothing')
      .option('--blind-index', 'recompute the email blind index under the first key of JEEX_BLIND_INDEX_KEYS instead'),
  ).action(async (flags: ConnectFlags & { batchSize: number; dryRun?: boolean; blindIndex?: boolean }) => {
    const json = Boolean(flags.json);
    let client: JeexDb | undefined;
    try {
      client = connect(flags);
      const cipher = client.cipher();
      const progress = progressReporter(json);
      const options = { batchSize: flags.batchSize, dryRun: Boolean(flags.dryRun), onProgress: throttled(progress) };
      if (flags.blindIndex) {
        progress(`${flags.dryRun ? 'counting' : 'moving'} users.email_hash to blind-index key ${cipher.blindIndexKeyId}`);
        const result = await rotateBlindIndex(client.sql, cipher, options);
        if (result.error) process.exitCode = exitCodeFor(result.error.code);
        if (json) return printJson({ ok: !result.error, kind: 'blind-index', ...result, ...(result.error ? { exitCode: process.exitCode } : {}) });
        say(`${result.dryRun ? 'would recompute' : 'recomputed'} ${(result.dryRun ? result.before : result.changed).toLocaleString('en')} blind index(es) under key ${result.keyId} in ${(result.durationMs / 1000).toFixed(1)} s`);
        for (const c of result.conflicts) say(`${red('conflict')} user ${c.id} has the email of user ${c.conflictsWith}: remove one of them, then rerun`);
        return finish(result.remaining, result.dryRun, '--blind-index', cipher.blindIndexKeyIds, 'JEEX_BLIND_INDEX_KEYS');
      }
      progress(`${flags.dryRun ? 'counting' : 're-sealing'} values not under data key ${cipher.dataKeyId}`);
      const result = await rotateDataKey(client.sql, cipher, options);
      if (result.error) process.exitCode = exitCodeFor(result.error.code);
      if (json) return printJson({ ok: !result.error, kind: 'data', ...result, ...(result.error ? { exitCode: process.exitCode } : {}) });
      for (const t of result.tables) {
        say(`${t.table} (${t.columns.join(', ')}): ${result.dryRun ? `${t.before.toLocaleString('en')} row(s) would be re-sealed` : `${t.changed.toLocaleString('en')} row(s) re-sealed in ${t.batches} batch(es)`}`);
      }
      say(dim(`under data key ${result.keyId}, ${(result.durationMs / 1000).toFixed(1)} s`));
      finish(result.remaining, result.dryRun, '', cipher.dataKeyIds, 'JEEX_DATA_KEYS');
    } catch (error) {
      reportError(error, json);
    } finally {
      await client?.close();
    }
  });
}

function finish(remaining: number, dryRun: boolean, flag: string, keyIds: string[], variable: string): void {
  if (dryRun) return;
  if (remaining > 0) {
    note(`${red('incomplete')} ${remaining} row(s) are still under an older key (held by long transactions, or written meanwhile by a process that does not have the new key first): rerun \`jeex-db keys rotate${flag ? ` ${flag}` : ''}\`.`);
    return;
  }
  const old = keyIds.slice(1);
  say(`${green('✔')} every row is under key ${keyIds[0] ?? '?'}${old.length ? `; ${old.join(', ')} can now be removed from ${variable}` : ''}`);
}

function printStatus(status: KeyStatusResult): void {
  for (const c of status.columns) {
    say(bold(`${c.table}.${c.column}`) + dim(` (${c.kind === 'data' ? 'encrypted' : 'blind index'})`));
    if (c.keys.length === 0) say(dim('  no rows'));
    for (const k of c.keys) {
      const state = k.state === 'unknown' ? red('unknown: not configured, unreadable') : k.state === 'current' ? green('current') : k.state ? 'configured (older)' : '';
      say(`  ${k.keyId}  ${k.rows.toLocaleString('en').padStart(10)} row(s)  ${state}`);
    }
  }
  if (status.pending) {
    say();
    say(`to rotate: ${status.pending.data.toLocaleString('en')} row(s) not under data key ${status.configured?.data[0] ?? '?'} (\`jeex-db keys rotate\`), ${status.pending.blindIndex.toLocaleString('en')} not under blind-index key ${status.configured?.blindIndex[0] ?? '?'} (\`jeex-db keys rotate --blind-index\`)`);
  } else {
    say(dim('no keys configured here: key ids only (set JEEX_DATA_KEY(S) and JEEX_BLIND_INDEX_KEY(S) to see what a rotation would do)'));
  }
}

function status(): Command {
  return connectOptions(new Command('status').description('rows per key id of every encrypted column and the blind index; with keys configured, what a rotation would still do')).action(
    async (flags: ConnectFlags) => {
      const json = Boolean(flags.json);
      let client: JeexDb | undefined;
      try {
        client = connect(flags);
        let cipher: ColumnCipher | undefined;
        try {
          cipher = client.cipher();
        } catch (error) {
          // Counting key ids needs no key: show them, unmarked.
          if (!isJeexDbError(error, 'ENCRYPTION_KEY_MISSING')) throw error;
        }
        const result = await keyStatus(client.sql, cipher);
        if (json) return printJson({ ok: true, ...result });
        printStatus(result);
        if (result.unknownKeys?.length) note(`${red('warning')} rows under key(s) ${result.unknownKeys.join(', ')}, which are not configured: they cannot be read until the key is added back.`);
      } catch (error) {
        reportError(error, json);
      } finally {
        await client?.close();
      }
    },
  );
}

/**
 * `jeex-db keys`: generate a key; the column cipher's rotation (`rotate`, `rotate --blind-index`)
 * and what is left of it (`status`).
 */
export function keysCommand(): Command {
  return new Command('keys').description('encryption keys: backups and the users columns (generate, rotate, status)').addCommand(generate()).addCommand(rotate()).addCommand(status());
}
