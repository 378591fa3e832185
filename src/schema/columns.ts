import { sql } from 'drizzle-orm';
import { timestamp, uuid } from 'drizzle-orm/pg-core';
import { uuidv7 } from '../db/uuid.ts';

/**
 * Primary key: PostgreSQL 18's built-in `uuidv7()` on the server (for raw SQL inserts) and
 * a client-side UUIDv7 through Drizzle, so a service knows the id before the insert.
 */
export const id = () =>
  uuid('id')
    .primaryKey()
    .default(sql`uuidv7()`)
    .$defaultFn(() => uuidv7());

/** `created_at` / `updated_at`; `updated_at` is kept current by a trigger (migration 0001). */
export const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
};
