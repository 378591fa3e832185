import type { Sql } from 'postgres';
import { loadColumnCipher } from '../src/local/cipher-keys.ts';
import { ColumnCipher } from '../src/crypto/column-cipher.ts';
import { generateKey } from '../src/crypto/keys.ts';
import { sealUser } from '../src/db/queries/users.ts';
import { localLayout } from '../src/local/layout.ts';

/**
 * The column cipher for seeding: the keys `up` made in the cluster's data directory (so the
 * package's queries can read what was seeded), else random keys for this run.
 */
export function benchCipher(dataDir?: string): ColumnCipher {
  if (dataDir) return loadColumnCipher({}, { local: localLayout(dataDir) });
  return new ColumnCipher({ data: [generateKey()], blindIndex: [generateKey()] });
}

/**
 * Insert users with raw SQL, their email and name sealed by the application as createUser does
 * (SEC-001: the database refuses plaintext), in one statement. Returns the ids in input order.
 *
 * @example
 * const ids = await insertSealedUsers(sql, benchCipher(), [{ email: 'a@bench.example', name: 'A' }]);
 */
export async function insertSealedUsers(sql: Sql, cipher: ColumnCipher, users: { email: string; name: string; id?: string }[]): Promise<string[]> {
  const rows = users.map((user) => sealUser(cipher, user));
  await sql`
    INSERT INTO users (id, email, email_hash, name)
    SELECT id, email, decode(hash, 'hex'), name
    FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.email.envelope)}::text[],
                ${rows.map((r) => r.emailHash.toString('hex'))}::text[], ${rows.map((r) => r.name.envelope)}::text[]) AS u(id, email, hash, name)`;
  return rows.map((r) => r.id);
}
