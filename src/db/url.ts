/** Replace the password in a postgres:// URL with `***`, for anything a person or a log sees. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
  }
}

/** Hide any password in free text (e.g. an error message that quotes a URL). */
export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]*@/g, '$1***@');
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}
