import type { Sql, TransactionSql } from 'postgres';
import { inject } from 'vitest';
import { ColumnCipher, type CipherKeys } from '../../src/crypto/column-cipher.ts';
import { parseKey } from '../../src/crypto/keys.ts';
import { sealUser, USER_EMAIL, USER_NAME } from '../../src/db/queries/users.ts';
import { Sealed } from '../../src/crypto/sealed.ts';

/** The run's column-cipher keys (random per run, made by the global setup). */
export function testKeys(): CipherKeys {
  const { keys } = inject('testServer');
  return { data: [parseKey(keys.data, 'test data key')], blindIndex: [parseKey(keys.blindIndex, 'test blind-index key')] };
}

/** The environment variables that give a spawned `jeex-db` (or createDb with env) the run's keys. */
export function testKeyEnv(): { JEEX_DATA_KEY: string; JEEX_BLIND_INDEX_KEY: string } {
  const { keys } = inject('testServer');
  return { JEEX_DATA_KEY: keys.data, JEEX_BLIND_INDEX_KEY: keys.blindIndex };
}

let cipher: ColumnCipher | undefined;
/** A cipher with the run's keys. */
export function testCipher(): ColumnCipher {
  return (cipher ??= new ColumnCipher(testKeys()));
}

export interface RawUser {
  id: string;
  /** The envelope, as the column holds it. */
  email: string;
  email_hash: Buffer;
  name: string;
}

/**
 * The column values of a users row for raw SQL: email and name sealed for the id (chosen when
 * not given), the blind index of the email.
 *
 * @example
 * const u = rawUser('ada@example.com', 'Ada');
 * await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
 */
export function rawUser(email: string, name: string, id?: string): RawUser {
  const row = sealUser(testCipher(), { email, name, ...(id ? { id } : {}) });
  return { id: row.id, email: row.email.envelope, email_hash: row.emailHash, name: row.name.envelope };
}

/** Insert a user with raw SQL (sealed with the run's keys); returns its id. */
export async function insertUser(sql: Sql | TransactionSql, user: { email: string; name: string; id?: string; profileData?: Record<string, unknown> }): Promise<string> {
  const u = rawUser(user.email, user.name, user.id);
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO users (id, email, email_hash, name, profile_data)
    VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name}, ${JSON.stringify(user.profileData ?? {})}::text::jsonb) RETURNING id`;
  if (!row) throw new Error('the user was not inserted');
  return row.id;
}

/** The blind index of an email under the run's key: `WHERE email_hash = ${emailHash(x)}`. */
export function emailHash(email: string): Buffer {
  return testCipher().blindIndex(email);
}

/** Every user of the database, decrypted with the run's keys (for restored clusters and raw checks). */
export async function readUsers(sql: Sql): Promise<{ id: string; email: string; name: string }[]> {
  const rows = await sql<{ id: string; email: string; name: string }[]>`SELECT id, email, name FROM users ORDER BY id`;
  return rows.map((row) => ({
    id: row.id,
    email: testCipher().open(Sealed.parse(row.email), USER_EMAIL, row.id),
    name: testCipher().open(Sealed.parse(row.name), USER_NAME, row.id),
  }));
}
