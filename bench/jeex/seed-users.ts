import type { Sql } from 'postgres';

/**
 * The bench's users: `ids.length` rows, 1,000 per multi-row INSERT. The only place in the bench
 * that knows how a user row is written; when email and name become ciphertext with a blind
 * index (`email_hash`), this is the one function to adapt (encrypt each row here, or call the
 * package's helper that does).
 */
export async function seedUsers(sql: Sql, ids: readonly string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += 1000) {
    const rows = ids.slice(start, start + 1000).map((id, i) => ({
      id,
      email: `user${start + i + 1}@bench.example`,
      name: `Bench User ${start + i + 1}`,
    }));
    await sql`INSERT INTO users ${sql(rows, 'id', 'email', 'name')}`;
  }
}
