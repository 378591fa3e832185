import { is, sql, type Placeholder } from 'drizzle-orm';
import { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Database } from '../create-db.ts';

interface Executable<T> {
  execute: (placeholders?: Record<string, unknown>) => Promise<T>;
}
interface Preparable<T> extends Executable<T> {
  prepare: (name: string) => Executable<T>;
}

const perClient = new WeakMap<Database, Map<string, Executable<unknown>>>();

/**
 * Run a query written with `sql.placeholder()`s, building its SQL once per client instead of on
 * every call: Drizzle takes 70-200 µs of CPU to build a select (the JEEX mix spent about a third
 * of its Node time there). `key` names the query's shape (one per combination of optional
 * conditions).
 *
 * Drizzle's `.prepare()` asks postgres.js for a named statement; postgres.js only names it when
 * the client's `prepare` option allows (a direct connection, PgBouncer 1.21+), otherwise it stays
 * unnamed and safe behind PgBouncer 1.18. Transactions (a new object each time) and clients of
 * other drivers, which would send the name through PgBouncer as it is, build the query each time.
 *
 * @example
 * const rows = await cached(db, 'getProject', (d) => d.select().from(projects).where(eq(projects.id, sql.placeholder('id'))), { id });
 */
export function cached<T>(db: Database, key: string, build: (db: Database) => Preparable<T>, values: Record<string, unknown>): Promise<T> {
  if (!is(db, PostgresJsDatabase)) return build(db).execute(values);
  let queries = perClient.get(db);
  if (!queries) perClient.set(db, (queries = new Map<string, Executable<unknown>>()));
  let query = queries.get(key) as Executable<T> | undefined;
  if (!query) queries.set(key, (query = build(db).prepare(`jeex_${key}`)));
  return query.execute(values);
}

/**
 * An INSERT's values as placeholders, for `cached`: the shape is the set of columns given; a
 * null or undefined value is left out, so the column takes its default (NULL for every nullable
 * column of this schema: none of them has another default). Give the id explicitly: a `$defaultFn`
 * would run once, when the query is built, and every row would get that id.
 */
export function insertShape<T extends Record<string, unknown>>(row: T): { shape: string; placeholders: Record<string, Placeholder>; values: Record<string, unknown> } {
  const given = Object.keys(row)
    .filter((key) => row[key] !== undefined && row[key] !== null)
    .sort();
  return {
    shape: given.join(','),
    placeholders: Object.fromEntries(given.map((key) => [key, sql.placeholder(key)])),
    values: Object.fromEntries(given.map((key) => [key, row[key]])),
  };
}
