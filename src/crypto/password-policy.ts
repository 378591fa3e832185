import { randomBytes } from 'node:crypto';
import { JeexDbError } from '../core/errors.ts';

/** The shortest password accepted for a role. Generated ones are 43 characters. */
export const MIN_PASSWORD_LENGTH = 16;

/**
 * Passwords that are long enough and still guessed first. Compared ignoring case, and also with
 * trailing digits and punctuation removed (`Password1234567890!` is `password`).
 */
const COMMON = [
  'password', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'qwerty', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm', 'letmein', 'welcome',
  'admin', 'administrator', 'postgres', 'postgresql', 'changeme', 'secret', 'iloveyou', 'trustno1', 'dragon', 'monkey',
  'football', 'baseball', 'sunshine', 'princess', 'starwars', 'whatever', 'jeex', 'jeexdb', 'jeex_app', 'jeex_migrator',
  'correcthorsebatterystaple', 'abcdefghijklmnop', '1234567890123456', '1234567890', '0987654321', '1q2w3e4r5t6y', '1qaz2wsx3edc',
  'qazwsxedc', 'default', 'master', 'superuser', 'database',
];
const COMMON_SET = new Set(COMMON);

export interface PasswordVerdict {
  ok: boolean;
  /** What is wrong, without repeating the password. */
  problems: string[];
}

/**
 * The password policy for passwords we accept (a rotation with `--password-file`, a password
 * from the environment): at least 16 characters, not one character repeated, not a well-known
 * password (with digits or punctuation added). Generated passwords (32 random bytes) pass.
 *
 * @example
 * checkPassword('password12345678') // { ok: false, problems: ['it is a common password with characters added'] }
 */
export function checkPassword(password: string): PasswordVerdict {
  const problems: string[] = [];
  if (password.length < MIN_PASSWORD_LENGTH) problems.push(`it has ${password.length} characters; at least ${MIN_PASSWORD_LENGTH} are required`);
  if ([...password].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) problems.push('it contains control characters (a trailing newline from a file is removed, others are refused)');
  if (password.length > 0 && new Set(password).size === 1) problems.push('it repeats one character');
  const lower = password.toLowerCase();
  const stem = lower.replace(/[\d\W_]+$/u, '').replace(/^[\d\W_]+/u, '');
  if (COMMON_SET.has(lower)) problems.push('it is a common password');
  else if (stem !== lower && COMMON_SET.has(stem)) problems.push('it is a common password with characters added');
  return { ok: problems.length === 0, problems };
}

/** Throw INVALID_CONFIG unless the password passes the policy; `source` says where it came from (never the value). */
export function assertPasswordPolicy(password: string, source: string): void {
  const verdict = checkPassword(password);
  if (verdict.ok) return;
  throw new JeexDbError('INVALID_CONFIG', `the password from ${source} was refused: ${verdict.problems.join('; ')}`, {
    hint: `Use at least ${MIN_PASSWORD_LENGTH} random characters (e.g. \`openssl rand -base64 32\`), or leave the password out and let jeex-db generate one.`,
  });
}

/** 32 random bytes, URL-safe: no quoting problems in URLs or connection strings. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
