import { eq, sql } from 'drizzle-orm';
import { users } from '../../schema/users.ts';
import type { NewUser, User } from '../../schema/types.ts';
import { insertUserSchema } from '../../schema/validation.ts';
import type { Database } from '../create-db.ts';
import { one, run, validate } from './run.ts';

/**
 * Create a user. Input is validated first; a taken email (ignoring case) raises
 * `UNIQUE_VIOLATION` with constraint `users_email_unique`.
 *
 * @example
 * const ada = await createUser(db, { email: 'ada@example.com', name: 'Ada' });
 */
export async function createUser(db: Database, input: NewUser): Promise<User> {
  const values = validate(insertUserSchema, input, 'user');
  return run(async () => one(await db.insert(users).values(values).returning(), 'the new user'));
}

export async function getUser(db: Database, id: string): Promise<User | undefined> {
  return run(async () => (await db.select().from(users).where(eq(users.id, id)))[0]);
}

/** Look a user up by email, ignoring case (served by the unique index on lower(email)). */
export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
  return run(async () => (await db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`))[0]);
}

/** Stamp `last_login_at` with the server's clock. */
export async function recordLogin(db: Database, id: string): Promise<User> {
  return run(async () =>
    one(await db.update(users).set({ lastLoginAt: sql`now()` }).where(eq(users.id, id)).returning(), `user ${id}`),
  );
}

/**
 * Delete a user with their projects (and those projects' versions, executions and exports).
 * Refused with `FOREIGN_KEY_VIOLATION` while the user authored rows in another user's project.
 */
export async function deleteUser(db: Database, id: string): Promise<void> {
  await run(async () => one(await db.delete(users).where(eq(users.id, id)).returning({ id: users.id }), `user ${id}`));
}
