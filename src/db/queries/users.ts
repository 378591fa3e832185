import { eq, inArray, sql } from 'drizzle-orm';
import type { ColumnCipher, ColumnId } from '../../crypto/column-cipher.ts';
import { normalizeEmail } from '../../crypto/column-cipher.ts';
import { cipherOf } from '../../crypto/db-cipher.ts';
import { matchedCipherOf } from '../key-match.ts';
import { constraints } from '../../schema/constraints.ts';
import { users } from '../../schema/users.ts';
import type { Sealed } from '../../crypto/sealed.ts';
import type { NewUser, User, UserRow } from '../../schema/types.ts';
import { insertUserSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { JeexDbError } from '../../core/errors.ts';
import { uuidv7 } from '../../core/uuid.ts';
import { params } from './params.ts';
import { one, run, validate } from './run.ts';

/** The associated data names of the encrypted columns of `users`. */
export const USER_EMAIL: ColumnId = 'users.email';
export const USER_NAME: ColumnId = 'users.name';

// pg_advisory_xact_lock(namespace, key) while more than one blind-index key is configured.
const EMAIL_LOCK_NAMESPACE = 0x4a455845; // 'JEXE'

/**
 * A users row ready for a raw insert: the id chosen (UUIDv7) when not given, email and name
 * sealed for that id, the blind index of the email. For seeding and tests that write SQL
 * themselves; services use createUser.
 *
 * @example
 * const row = sealUser(cipherOf(db), { email: 'ada@example.com', name: 'Ada' });
 * await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${row.id}, ${row.email.envelope}, ${row.emailHash}, ${row.name.envelope})`;
 */
export function sealUser<T extends { id?: string | undefined; email: string; name: string }>(
  cipher: ColumnCipher,
  input: T,
): Omit<T, 'email' | 'name'> & { id: string; email: Sealed; name: Sealed; emailHash: Buffer } {
  // The sizes createUser accepts, before anything is normalised, hashed or sealed.
  params('user').chars('email', input.email, 1, 320).chars('name', input.name, 1, 255).check();
  const id = input.id ?? uuidv7();
  return {
    ...input,
    id,
    email: cipher.seal(input.email, USER_EMAIL, id),
    emailHash: cipher.blindIndex(input.email),
    name: cipher.seal(input.name, USER_NAME, id),
  };
}

/** A stored row as services see it: email and name opened, the blind index left out. */
export function openUser(cipher: ColumnCipher, row: UserRow): User {
  const { email, name, emailHash: _emailHash, ...rest } = row;
  return { ...rest, email: cipher.open(email, USER_EMAIL, row.id), name: cipher.open(name, USER_NAME, row.id) };
}

/**
 * Create a user. Input is validated first (email format, name length: the database sees only
 * ciphertext); email and name are sealed for the new id, the email's blind index is stored for
 * lookups. A taken email (ignoring case) raises `UNIQUE_VIOLATION` with constraint
 * `users_email_hash_unique`. Keys that match no stored row (a damaged key file, a process left
 * with the old key after a rotation) raise `ENCRYPTION_KEY_MISMATCH` naming the key's source.
 *
 * @example
 * const ada = await createUser(db, { email: 'ada@example.com', name: 'Ada' });
 * ada.email; // 'ada@example.com' (stored encrypted)
 */
export async function createUser(db: Database, input: NewUser): Promise<User> {
  const values = validate(insertUserSchema, input, 'user');
  // Refused (ENCRYPTION_KEY_MISMATCH) when the keys match no stored row: a damaged key file
  // would seal users nothing else can read and miss duplicates (see checkKeyMatch).
  const cipher = await run(() => matchedCipherOf(db, 'write'));
  const row = sealUser(cipher, values);
  const insert = async (q: Database) => openUser(cipher, one(await q.insert(users).values(row).returning(), 'the new user'));
  if (cipher.blindIndexKeyIds.length === 1) return run(() => insert(db));
  // A blind-index rotation is under way: the same email may be stored under an older key, which
  // the unique constraint cannot see. Check every key's hash, serialized per email across
  // processes (each locks the hashes of all its keys, in one order).
  return run(() =>
    db.transaction(async (tx) => {
      const hashes = cipher.blindIndexes(values.email);
      const locks = [...new Set(hashes.map((hash) => hash.readInt32BE(4)))].sort((a, b) => a - b);
      for (const key of locks) await tx.execute(sql`SELECT pg_advisory_xact_lock(${EMAIL_LOCK_NAMESPACE}, ${key})`);
      const [taken] = await tx.select({ id: users.id }).from(users).where(inArray(users.emailHash, hashes)).limit(1);
      if (taken) throw emailTaken();
      return insert(tx);
    }),
  );
}

export async function getUser(db: Database, id: string): Promise<User | undefined> {
  params('user').uuid('id', id).check();
  const cipher = cipherOf(db);
  return run(async () => {
    const [row] = await db.select().from(users).where(eq(users.id, id));
    return row && openUser(cipher, row);
  });
}

/**
 * Look a user up by email, ignoring case: served by the unique blind index (`email_hash`), under
 * every configured blind-index key while a rotation is under way. The email stored in the row is
 * decrypted and compared too, so a blind index copied onto another row finds nothing. When no
 * row matches while some stored blind index is under a key that is not configured, the answer
 * would be a guess: `ENCRYPTION_KEY_MISMATCH` instead of `undefined`.
 */
export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
  // Before normalising and hashing it: no stored email is longer than createUser accepts.
  params('email lookup').chars('email', email, 1, 320).check();
  const cipher = cipherOf(db);
  const hashes = cipher.blindIndexes(email);
  const wanted = normalizeEmail(email);
  return run(async () => {
    const rows = await db
      .select()
      .from(users)
      .where(hashes.length === 1 ? eq(users.emailHash, hashes[0] as Buffer) : inArray(users.emailHash, hashes));
    const found = rows.map((row) => openUser(cipher, row)).find((user) => normalizeEmail(user.email) === wanted);
    if (found) return found;
    // A miss is an answer only if every stored blind index is under a configured key: with a
    // damaged or wrong key every lookup would miss (ENCRYPTION_KEY_MISMATCH instead).
    await matchedCipherOf(db, 'lookup');
    return undefined;
  });
}

/** Stamp `last_login_at` with the server's clock. */
export async function recordLogin(db: Database, id: string): Promise<User> {
  params('user').uuid('id', id).check();
  const cipher = cipherOf(db);
  return run(async () =>
    openUser(cipher, one(await db.update(users).set({ lastLoginAt: sql`now()` }).where(eq(users.id, id)).returning(), `user ${id}`)),
  );
}

/**
 * Delete a user with their projects (and those projects' versions, executions and exports).
 * Refused with `FOREIGN_KEY_VIOLATION` while the user authored rows in another user's project.
 */
export async function deleteUser(db: Database, id: string): Promise<void> {
  params('user').uuid('id', id).check();
  await run(async () => one(await db.delete(users).where(eq(users.id, id)).returning({ id: users.id }), `user ${id}`));
}

/** The error the unique constraint gives, for a duplicate found under an older blind-index key. */
function emailTaken(): JeexDbError {
  const name = 'users_email_hash_unique';
  const info = constraints[name];
  return new JeexDbError('UNIQUE_VIOLATION', `${name}: ${info?.message ?? 'a user with this email already exists'}`, {
    constraint: name,
    table: 'users',
    columns: info?.columns ?? ['email'],
    ...(info?.hint ? { hint: info.hint } : {}),
  });
}
