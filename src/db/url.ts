import { maskConnString } from './conn-string.ts';

/**
 * Replace the password in a connection string with `***`, for anything a person or a log sees:
 * a postgres:// URL with one host or several (`h1:5432,h2:5433`), libpq's key=value form, or a
 * string that cannot be read at all.
 *
 * @example
 * maskUrl('postgres://app:s3cret@h1:5432,h2:5433/jeex'); // 'postgres://app:***@h1:5432,h2:5433/jeex'
 */
export function maskUrl(url: string): string {
  return maskConnString(url);
}

/** Hide any password in free text (e.g. an error message that quotes a URL). */
export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]*@/g, '$1***@');
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}
