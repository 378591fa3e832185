import { chown, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import type { LocalLayout } from '../local/layout.ts';
import type { PgBinaries } from './binaries.ts';
import { exec, type RunAs } from '../platform/exec.ts';
import { relevantLines } from '../platform/log-file.ts';

export interface InitdbOptions {
  superuser: string;
  password: string;
  /** A libc locale such as `en_US.UTF-8`; default: the built-in C.UTF-8 provider. */
  locale?: string;
}

/**
 * How every jeex-db cluster is initialised (also POSTGRES_INITDB_ARGS in ops/compose.yaml):
 * SCRAM authentication, UTF-8, data checksums, English server messages, and the built-in
 * C.UTF-8 locale provider (stable sort order, independent of the OS's libc) unless a libc
 * locale is asked for.
 */
export function initdbClusterArgs(locale?: string): string[] {
  const localeArgs = locale
    ? ['--locale-provider=libc', `--locale=${locale}`]
    : ['--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--locale=C'];
  return ['--auth=scram-sha-256', '--encoding=UTF8', '--data-checksums', '--lc-messages=C', ...localeArgs];
}

/**
 * Create a new cluster: UTF-8, data checksums, SCRAM authentication, the superuser's password
 * from a file that only the server's user can read and that is removed right after.
 */
export async function initCluster(bin: PgBinaries, layout: LocalLayout, options: InitdbOptions, as?: RunAs): Promise<void> {
  const pwfile = join(layout.root, `.initdb-pw-${process.pid}`);
  await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
  try {
    if (as) await chown(pwfile, as.uid, as.gid);
    const result = await exec(
      bin.initdb,
      [
        `--pgdata=${layout.pgdata}`,
        `--username=${options.superuser}`,
        `--pwfile=${pwfile}`,
        ...initdbClusterArgs(options.locale),
      ],
      { as, cwd: layout.pgdata },
    );
    if (result.code !== 0) {
      const output = `${result.stderr}\n${result.stdout}`.split('\n').filter((line) => line.trim() !== '');
      const reason = output.find((line) => line.startsWith('initdb: error:'))?.replace('initdb: error: ', '') ?? 'see the output below';
      throw new JeexDbError('INITDB_FAILED', `initdb could not create the cluster in ${layout.pgdata}: ${reason}`, {
        hint: /locale/i.test(reason)
          ? 'Pick a locale this machine has (`locale -a`), or leave --locale out for the built-in C.UTF-8.'
          : `Fix the cause above; initdb needs an empty directory: remove ${layout.pgdata} if a previous attempt left files.`,
        logExcerpt: relevantLines(output),
        context: { pgdata: layout.pgdata, exitCode: result.code },
      });
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}
