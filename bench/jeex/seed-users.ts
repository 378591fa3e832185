import type { Sql } from 'postgres';
import type { ColumnCipher } from '../../src/crypto/column-cipher.ts';
import { insertSealedUsers } from '../sealed-users.ts';

/**
 * The bench's users: `ids.length` rows, 1,000 per INSERT, their email and name sealed by the
 * application as createUser does (SEC-001: the table refuses plaintext), with `cipher` (the
 * cluster's own keys, so the package's queries can read them). The only place in the bench that
 * knows how a user row is written.
 */
export async function seedUsers(sql: Sql, ids: readonly string[], cipher: ColumnCipher): Promise<void> {
  for (let start = 0; start < ids.length; start += 1000) {
    const rows = ids.slice(start, start + 1000).map((id, i) => ({
      id,
      email: `user${start + i + 1}@bench.example`,
      name: `Bench User ${start + i + 1}`,
    }));
    await insertSealedUsers(sql, cipher, rows);
  }
}
