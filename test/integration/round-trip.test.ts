import { type Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { roundTrip } from '../../src/migrate/index.ts';
import { migrate } from '../../src/migrate/runner.ts';
import { PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// Issue 17, "What to build" 3: "a round-trip test helper (up, down, up; catalogs compared) that a
// project can run in CI". Each test gets an empty database of its own.

describe('roundTrip: up, down, up again with catalogs compared', () => {
  let db: TestDatabase;
  let sql: Sql;
  let scratch: ScratchMigrations;

  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await sql?.end({ timeout: 1 });
    await db?.drop();
    await scratch?.remove();
  });

  it("passes on the package's migrations: every step run, no differences", async () => {
    const result = await roundTrip(sql, { migrationsDir: scratch.dir });
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.migrations).toEqual(PACKAGE_TAGS);
    expect(result.steps.map((s) => `${s.phase} ${s.migration}`)).toEqual([
      ...PACKAGE_TAGS.map((t) => `up ${t}`),
      ...[...PACKAGE_TAGS].reverse().map((t) => `down ${t}`),
      ...PACKAGE_TAGS.map((t) => `up-again ${t}`),
    ]);
    // It ends migrated.
    expect(await sql`SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'users'`).toHaveLength(1);
  });

  it('fails naming the migration and the object when a down file forgets to drop something', async () => {
    const tag = await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;', 'CREATE INDEX "users_nickname_idx" ON "users" ("nickname");'], {
      snapshot: true,
      // Forgets the column (dropping the index only).
      down: ['DROP INDEX "users_nickname_idx";'],
    });
    const result = await roundTrip(sql, { migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    // Reported once, at the step that left it (later downs keep it until 0000 drops the table).
    expect(result.failures).toEqual([expect.objectContaining({ migration: tag, phase: 'down' })]);
    expect(result.failures[0]?.differences).toEqual([expect.objectContaining({ kind: 'columns', change: 'left-over', object: 'public.users.nickname' })]);
    expect(result.failures[0]?.differences[0]?.line).toMatch(/^public\.users\.nickname type=text /);
    // Every step still ran (down to 0000, which drops the table, and up again).
    expect(result.steps).toHaveLength(3 * (PACKAGE_TAGS.length + 1));
  });

  it('a down file that drops too much shows what is missing', async () => {
    const tag = await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], {
      snapshot: true,
      down: ['ALTER TABLE "users" DROP COLUMN "nickname";', 'DROP INDEX "exports_created_by_idx";'],
    });
    const result = await roundTrip(sql, { migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    expect(result.failures[0]).toMatchObject({ migration: tag, phase: 'down' });
    expect(result.failures[0]?.differences).toEqual([expect.objectContaining({ kind: 'indexes', change: 'missing', object: 'public.exports_created_by_idx' })]);
  });

  it('refuses a database with migrations applied, or with objects of its own, changing nothing', async () => {
    const admin = connect(db.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe('CREATE SCHEMA keep; CREATE TABLE keep.me (id int)');
    } finally {
      await admin.end({ timeout: 1 });
    }
    const refused = await rejection(roundTrip(sql, { migrationsDir: scratch.dir }));
    expect(refused).toMatchObject({ code: 'INVALID_CONFIG' });
    expect(refused.message).toContain('schemas: keep, relations: keep.me');
    expect(await sql`SELECT 1 FROM pg_tables WHERE tablename = 'users'`).toHaveLength(0);

    // Migrated, it is refused too (the trip starts with no migration applied).
    const other = await createTestDatabase({ empty: true });
    const otherSql = connect(other.migratorUrl, { max: 2, onnotice: () => {} });
    try {
      await migrate(otherSql, { migrationsDir: scratch.dir, restorePoint: false });
      const applied = await rejection(roundTrip(otherSql, { migrationsDir: scratch.dir }));
      expect(applied).toMatchObject({ code: 'INVALID_CONFIG' });
      expect(applied.message).toContain(`needs a database without migrations applied; this one has ${PACKAGE_TAGS.join(', ')}`);
    } finally {
      await otherSql.end({ timeout: 1 });
      await other.drop();
    }
  });

  it('a down file missing altogether stops the trip at that migration with MIGRATION_NO_DOWN', async () => {
    const tag = await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], { snapshot: true });
    const result = await roundTrip(sql, { migrationsDir: scratch.dir });
    expect(result.failures.map((f) => [f.migration, f.phase, f.error?.code])).toEqual([[tag, 'down', 'MIGRATION_NO_DOWN']]);
    // rollback refused before changing anything: the database is left fully migrated.
    expect((await migrate(sql, { migrationsDir: scratch.dir })).upToDate).toBe(true);
  });
});
