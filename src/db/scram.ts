import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * A SCRAM-SHA-256 verifier for `ALTER ROLE ... PASSWORD`, computed here so the plaintext never
 * reaches the server (nor its log, nor pg_stat_statements). Same format as PostgreSQL's own
 * (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, RFC 5802/7677).
 *
 * @example
 * await sql.unsafe(`ALTER ROLE app PASSWORD '${scramVerifier(password)}'`);
 */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  // Our passwords are ASCII, for which SASLprep is the identity.
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether `verifier` (as pg_authid stores it) was made from `password`. */
export function scramMatches(verifier: string | null | undefined, password: string): boolean {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier ?? '');
  if (!match) return false;
  return scramVerifier(password, Number(match[1]), Buffer.from(match[2] ?? '', 'base64')) === verifier;
}
