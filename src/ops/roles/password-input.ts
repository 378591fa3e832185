import { readFile } from 'node:fs/promises';
import { JeexDbError } from '../../core/errors.ts';
import { assertPasswordPolicy } from '../../crypto/password-policy.ts';
import { LOGIN_KINDS, type LoginKind } from './names.ts';

/** A password and where it came from (for messages: never the value). */
export interface PasswordInput {
  password: string;
  source: string;
}

/** One trailing newline (what `echo` and editors add) is not part of a password. */
const chomp = (text: string) => text.replace(/\r?\n$/, '');

async function fromFile(file: string, what: string): Promise<PasswordInput> {
  try {
    return { password: chomp(await readFile(file, 'utf8')), source: what };
  } catch (error) {
    throw new JeexDbError('INVALID_CONFIG', `cannot read ${what}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      hint: 'Name a readable file (chmod 600 it: it holds a password).',
    });
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return text;
}

/**
 * A new password for `roles rotate`, from (in this order) `--password-file FILE`,
 * `--password-stdin`, or `JEEX_NEW_PASSWORD` / `JEEX_NEW_PASSWORD_FILE`; undefined when none is
 * given (the caller generates one). Never from a command-line argument: `ps` would show it.
 * Checked against the password policy.
 */
export async function newPasswordInput(
  options: { file?: string; stdin?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<PasswordInput | undefined> {
  let input: PasswordInput | undefined;
  if (options.file) input = await fromFile(options.file, `--password-file ${options.file}`);
  else if (options.stdin) input = { password: chomp(await readAll(stdin)), source: 'standard input' };
  else if (env.JEEX_NEW_PASSWORD) input = { password: env.JEEX_NEW_PASSWORD, source: 'JEEX_NEW_PASSWORD' };
  else if (env.JEEX_NEW_PASSWORD_FILE) input = await fromFile(env.JEEX_NEW_PASSWORD_FILE, `JEEX_NEW_PASSWORD_FILE (${env.JEEX_NEW_PASSWORD_FILE})`);
  if (input) assertPasswordPolicy(input.password, input.source);
  return input;
}

/** `JEEX_APP_PASSWORD` / `JEEX_APP_PASSWORD_FILE` and so on for each login role. */
export const passwordVariable = (kind: LoginKind): string => `JEEX_${kind.toUpperCase()}_PASSWORD`;

/**
 * The login roles' passwords for `roles apply --url` (a server that is not the local cluster,
 * whose secrets.json does not apply): `JEEX_<ROLE>_PASSWORD` or `JEEX_<ROLE>_PASSWORD_FILE`,
 * each checked against the password policy. Roles without one keep their current password.
 */
export async function passwordsFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<Partial<Record<LoginKind, string>>> {
  const passwords: Partial<Record<LoginKind, string>> = {};
  for (const kind of LOGIN_KINDS) {
    const variable = passwordVariable(kind);
    const input = env[variable]
      ? { password: env[variable], source: variable }
      : env[`${variable}_FILE`]
        ? await fromFile(env[`${variable}_FILE`] ?? '', `${variable}_FILE (${env[`${variable}_FILE`] ?? ''})`)
        : undefined;
    if (!input) continue;
    assertPasswordPolicy(input.password, input.source);
    passwords[kind] = input.password;
  }
  return passwords;
}
