import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import type { Sql } from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { isUuidv7, uuidv7, uuidv7Timestamp } from '../../src/core/uuid.ts';
import { sealUser, USER_EMAIL } from '../../src/db/queries/users.ts';
import { projects, users } from '../../src/schema/index.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';

// Ids are UUIDv7 whoever makes them (the server's default for raw SQL, uuidv7() in the client
// for Drizzle), they sort in creation order, and updated_at is the server's business.

const tables = ['users', 'projects', 'document_versions', 'agent_executions', 'exports'] as const;
type TableName = (typeof tables)[number];

interface Fixture {
  userId: string;
  projectId: string;
}

let sequence = 0;

/**
 * Insert a users row leaving the id to the server. Its email and name are sealed for another id
 * (the cipher binds them to the row id, which the server has not chosen yet), so the row would
 * not decrypt: only its id and timestamps are under test. Services choose the id first
 * (createUser does).
 */
function usersWithoutId(sql: Sql, email: string, profileData: Record<string, unknown> = {}) {
  const u = rawUser(email, 'Ada');
  return sql<{ id: string }[]>`
    INSERT INTO users (email, email_hash, name, profile_data) VALUES (${u.email}, ${u.email_hash}, ${u.name}, ${JSON.stringify(profileData)}) RETURNING id`;
}

/** Insert a valid row with plain SQL, leaving id, created_at and updated_at to the server. */
async function insertWithoutId(sql: Sql, table: TableName, f: Fixture): Promise<string> {
  const n = ++sequence;
  const rows = await {
    users: () => usersWithoutId(sql, `u${n}@example.com`),
    projects: () => sql<{ id: string }[]>`INSERT INTO projects (name, created_by) VALUES ('Idea', ${f.userId}) RETURNING id`,
    document_versions: () => sql<{ id: string }[]>`
      INSERT INTO document_versions (project_id, document_type, version, content, created_by)
      VALUES (${f.projectId}, 'plan', ${n}, '# Plan', ${f.userId}) RETURNING id`,
    agent_executions: () => sql<{ id: string }[]>`
      INSERT INTO agent_executions (project_id, agent_type, correlation_id) VALUES (${f.projectId}, 'planner', uuidv7()) RETURNING id`,
    exports: () => sql<{ id: string }[]>`
      INSERT INTO exports (project_id, format, created_by) VALUES (${f.projectId}, 'pdf', ${f.userId}) RETURNING id`,
  }[table]();
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

/** A column each table lets a caller change (document_versions: a score, not its content). */
const harmlessChange: Record<TableName, (sql: Sql) => ReturnType<Sql['unsafe']>> = {
  users: (sql) => sql`profile_data = '{"edited": true}'`,
  projects: (sql) => sql`current_step = 2`,
  document_versions: (sql) => sql`readability_score = 64`,
  agent_executions: (sql) => sql`error_message = 'retrying'`,
  exports: (sql) => sql`download_count = download_count + 1`,
};

interface Stamps {
  later: boolean;
  isNow: boolean;
  /** updated_at in microseconds since the epoch (exact, unlike a JS Date). */
  updatedAtUs: number;
}

describe('REQ-002: UUIDv7 ids and server-kept timestamps', () => {
  const t = useTestDatabase();
  const f = {} as Fixture;

  beforeAll(async () => {
    const sql = t.client.sql;
    f.userId = await insertWithoutId(sql, 'users', f);
    f.projectId = await insertWithoutId(sql, 'projects', f);
  });

  describe('server-side ids (raw SQL without an id)', () => {
    it.each(tables)('%s gets a version-7 id stamped with the current time', async (table) => {
      const id = await insertWithoutId(t.client.sql, table, f);
      const [row] = await t.client.sql<{ version: number; skewMs: number }[]>`
        SELECT uuid_extract_version(${id}::uuid) AS version,
               abs(extract(epoch FROM clock_timestamp() - uuid_extract_timestamp(${id}::uuid)) * 1000)::float8 AS "skewMs"`;
      expect(row?.version).toBe(7);
      expect(row?.skewMs).toBeLessThan(5_000);
    });

    it('200 ids inserted one statement after another sort in insertion order', async () => {
      const sql = t.client.sql;
      const inserted: string[] = [];
      for (let n = 0; n < 200; n++) {
        const [row] = await usersWithoutId(sql, `order-${n}@example.com`, { order: n });
        inserted.push(row!.id);
      }
      const byId = await sql<{ id: string; order: number }[]>`
        SELECT id, (profile_data->>'order')::int AS order FROM users WHERE profile_data ? 'order' ORDER BY id`;
      expect(byId).toHaveLength(200);
      expect(byId.map((row) => row.order)).toEqual([...Array(200).keys()]);
      expect(byId.map((row) => row.id)).toEqual(inserted);
      expect(new Set(inserted).size).toBe(200);
    });
  });

  describe('client-side ids', () => {
    it('uuidv7() yields version-7 ids that the server reads as version 7 with the same timestamp', async () => {
      const before = Date.now();
      const id = uuidv7();
      const after = Date.now();
      expect(isUuidv7(id)).toBe(true);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = uuidv7Timestamp(id);
      expect(ms).toBeGreaterThanOrEqual(before - 2);
      expect(ms).toBeLessThanOrEqual(after + 5);

      const [row] = await t.client.sql<{ version: number; ms: number }[]>`
        SELECT uuid_extract_version(${id}::uuid) AS version,
               (extract(epoch FROM uuid_extract_timestamp(${id}::uuid)) * 1000)::float8 AS ms`;
      expect(row?.version).toBe(7);
      expect(row?.ms).toBe(ms);
    });

    it('10 000 ids generated in a row are strictly increasing as strings', () => {
      const ids = Array.from({ length: 10_000 }, () => uuidv7());
      const outOfOrder = ids.findIndex((id, n) => n > 0 && !(ids[n - 1]! < id));
      expect(outOfOrder).toBe(-1);
      expect(ids.every(isUuidv7)).toBe(true);
    });

    it('rejects what is not a UUIDv7', () => {
      expect(isUuidv7(randomUUID())).toBe(false);
      expect(isUuidv7('not-a-uuid')).toBe(false);
      expect(() => uuidv7Timestamp(randomUUID())).toThrow(TypeError);
    });
  });

  describe('Drizzle inserts', () => {
    it('accept an id chosen before the insert', async () => {
      // (users' email and name are sealed for the id, which is why createUser chooses it first)
      const id = uuidv7();
      const cipher = t.client.cipher();
      const [row] = await t.client.db.insert(users).values(sealUser(cipher, { id, email: 'chosen@example.com', name: 'Chosen' })).returning();
      expect(row?.id).toBe(id);
      const [stored] = await t.client.db.select({ email: users.email }).from(users).where(eq(users.id, id));
      expect(stored && cipher.open(stored.email, USER_EMAIL, id)).toBe('chosen@example.com');
    });

    it('without an id, send one made by the client generator (not the server default)', async () => {
      const query = t.client.db.insert(projects).values({ name: 'Generated', createdBy: f.userId });
      const { sql, params } = query.toSQL();
      expect(sql).toMatch(/^insert into "projects" \("id", /);
      expect(typeof params[0] === 'string' && isUuidv7(params[0])).toBe(true);

      const before = Date.now();
      const [row] = await t.client.db.insert(projects).values({ name: 'Generated', createdBy: f.userId }).returning();
      expect(row && isUuidv7(row.id)).toBe(true);
      expect(uuidv7Timestamp(row!.id)).toBeGreaterThanOrEqual(before - 2);
      expect(uuidv7Timestamp(row!.id)).toBeLessThanOrEqual(Date.now() + 5);
    });
  });

  describe('updated_at', () => {
    async function updateLater(table: TableName, id: string, extra?: ReturnType<Sql['unsafe']>): Promise<Stamps> {
      // A later transaction than the insert, so now() differs from created_at.
      await sleep(15);
      return t.client.sql.begin(async (tx) => {
        const change = harmlessChange[table](t.client.sql);
        const set = extra ? tx`${change}, ${extra}` : change;
        const [row] = await tx<Stamps[]>`
          UPDATE ${tx(table)} SET ${set} WHERE id = ${id}
          RETURNING updated_at > created_at AS later, updated_at = now()::timestamptz(3) AS "isNow",
                    (extract(epoch FROM updated_at) * 1000000)::float8 AS "updatedAtUs"`;
        if (!row) throw new Error(`${table} ${id} was not updated`);
        return row;
      });
    }

    it.each(tables)('%s: a plain SQL UPDATE moves updated_at to the time of that transaction', async (table) => {
      const id = await insertWithoutId(t.client.sql, table, f);
      const [inserted] = await t.client.sql<{ same: boolean }[]>`
        SELECT updated_at = created_at AS same FROM ${t.client.sql(table)} WHERE id = ${id}`;
      expect(inserted?.same).toBe(true);

      const first = await updateLater(table, id);
      expect(first).toMatchObject({ later: true, isNow: true });
      const second = await updateLater(table, id);
      expect(second).toMatchObject({ later: true, isNow: true });
      expect(second.updatedAtUs).toBeGreaterThan(first.updatedAtUs);
    });

    it.each(tables)('%s: a caller cannot set updated_at to the past or the future', async (table) => {
      const sql = t.client.sql;
      const id = await insertWithoutId(sql, table, f);
      const past = await updateLater(table, id, sql`updated_at = '2000-01-01T00:00:00Z'`);
      expect(past).toMatchObject({ later: true, isNow: true });
      const future = await updateLater(table, id, sql`updated_at = '2999-01-01T00:00:00Z'`);
      expect(future).toMatchObject({ later: true, isNow: true });

      // Only updated_at in the SET list: still the server's clock.
      await sleep(15);
      const [alone] = await sql.begin((tx) => tx<{ isNow: boolean }[]>`
        UPDATE ${tx(table)} SET updated_at = '2000-01-01T00:00:00Z' WHERE id = ${id} RETURNING updated_at = now()::timestamptz(3) AS "isNow"`);
      expect(alone?.isNow).toBe(true);
      const [stored] = await sql<{ recent: boolean }[]>`
        SELECT updated_at BETWEEN now() - interval '1 minute' AND now()::timestamptz(3) AS recent FROM ${sql(table)} WHERE id = ${id}`;
      expect(stored?.recent).toBe(true);
    });
  });
});
