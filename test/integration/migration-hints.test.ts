import { writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { migrate } from '../../src/migrate/runner.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { emailHash, insertUser } from '../helpers/users.ts';
import { rejection as failure } from '../helpers/rejections.ts';

// Finding 5 of issue 17: a migration that fails on the data it meets got the application's advice
// ("Provide a value for owner_note"), the duplicated key of a failed unique index was not shown,
// nor the INVALID index the runner dropped. Each failure is provoked for real here.

describe('hints for migrations that fail on their data', () => {
  let db: TestDatabase;
  let sql: Sql;
  let admin: Sql;
  let migrations: ScratchMigrations;
  let userId: string;

  // Each test gets its own database with the package's migrations applied and rows in users and projects.
  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    admin = connect(db.adminUrl, { max: 2, onnotice: () => {} });
    migrations = await ScratchMigrations.create();
    await migrate(sql, { migrationsDir: migrations.dir, restorePoint: false });
    userId = await insertUser(admin, { email: 'ada@example.com', name: 'Ada' });
    await admin`INSERT INTO projects (name, created_by) VALUES ('one', ${userId}), ('two', ${userId})`;
  });
  afterEach(async () => {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
    await db.drop();
    await migrations.remove();
  });

  const run = () => failure(migrate(sql, { migrationsDir: migrations.dir, restorePoint: false }));

  it('ADD COLUMN ... NOT NULL over existing rows: the expand / backfill / NOT VALID / VALIDATE recipe, not "Provide a value"', async () => {
    // What drizzle-kit generates for `ownerNote: text('owner_note').notNull()` on a table with rows.
    const tag = await migrations.add('owner_note', ['ALTER TABLE "projects" ADD COLUMN "owner_note" text NOT NULL;']);
    const error = await run();
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.sqlState).toBe('23502');
    expect(error.message).toContain(`migration ${tag} failed`);
    // Before: hint "Provide a value for owner_note."
    expect(error.hint).not.toMatch(/Provide a value/);
    expect(error.hint).toMatch(/Expand, backfill, contract, each step its own migration/);
    expect(error.hint).toContain('ADD COLUMN owner_note text NOT NULL DEFAULT <constant>');
    expect(error.hint).toContain('ADD CONSTRAINT projects_owner_note_not_null NOT NULL owner_note NOT VALID');
    expect(error.hint).toMatch(/VALIDATE CONSTRAINT projects_owner_note_not_null.*SET NOT NULL/);
    expect(error.context).toMatchObject({ advice: 'not-null-expand-backfill', table: '"projects"', column: 'owner_note' });
    const recipe = error.context?.recipe as string[];
    expect(recipe[0]).toBe('ALTER TABLE "projects" ADD COLUMN owner_note text DEFAULT <value for new rows>;');

    // The recipe works on this database: each step as its own migration, with a value filled in.
    await admin`DELETE FROM jeex_migrations.ledger WHERE name = ${tag}`;
    await migrations.remove();
    migrations = await ScratchMigrations.create();
    const steps = recipe.map((step) => step.replaceAll('<value for new rows>', "''").replaceAll('<value>', "'n/a'"));
    await migrations.add('owner_note_add', [steps[0] ?? '']);
    await migrations.add('owner_note_backfill', [steps[1] ?? '']);
    await migrations.add('owner_note_not_valid', [steps[2] ?? '']);
    await migrations.add('owner_note_validate', [steps[3] ?? '', steps[4] ?? '']);
    await migrate(sql, { migrationsDir: migrations.dir, restorePoint: false });
    const [column] = await admin<{ notnull: boolean }[]>`SELECT attnotnull AS notnull FROM pg_attribute WHERE attrelid = 'projects'::regclass AND attname = 'owner_note'`;
    expect(column?.notnull).toBe(true);
    expect(await admin`SELECT 1 FROM projects WHERE owner_note IS NULL`).toHaveLength(0);
  });

  it('SET NOT NULL over rows with nulls: backfill first, then NOT VALID and VALIDATE', async () => {
        await migrations.add('deleted_required', ['ALTER TABLE "projects" ALTER COLUMN "deleted_at" SET NOT NULL;']);
    const error = await run();
    expect(error.sqlState).toBe('23502');
    expect(error.hint).not.toMatch(/Provide a value/);
    expect(error.hint).toContain('SELECT count(*) FROM "projects" WHERE deleted_at IS NULL');
    expect(error.hint).toContain('NOT NULL deleted_at NOT VALID');
    expect(error.hint).not.toContain('ADD COLUMN');
  });

  it('a data statement writing NULL into a NOT NULL column: fix the statement, without the row values', async () => {
    await migrations.add('copy_projects', ['INSERT INTO "projects" (name, created_by) SELECT NULL, id FROM users;']);
    const error = await run();
    expect(error.sqlState).toBe('23502');
    expect(error.hint).toMatch(/writes NULL into projects\.name, which is NOT NULL: give it a value \(COALESCE/);
    expect(error.context).toMatchObject({ advice: 'not-null-data', table: 'projects', column: 'name' });
    // PostgreSQL's DETAIL ("Failing row contains (...)") holds row values: it stays out.
    expect(JSON.stringify({ message: error.message, hint: error.hint, context: error.context })).not.toContain('Failing row');
  });

  it('ALTER COLUMN TYPE over values that do not convert: find them, then expand / backfill / switch / contract', async () => {
    // A free-text column that the schema now wants as an integer; one value does not convert.
    await migrations.add('budget', ['ALTER TABLE "projects" ADD COLUMN "budget" text;']);
    await migrate(sql, { migrationsDir: migrations.dir, restorePoint: false });
    await admin`UPDATE projects SET budget = CASE name WHEN 'one' THEN '100' ELSE 'about 5k' END`;
    const tag = await migrations.add('budget_int', ['ALTER TABLE "projects" ALTER COLUMN "budget" SET DATA TYPE integer USING "budget"::integer;']);
    const error = await run();
    expect(error.sqlState).toBe('22P02');
    expect(error.message).toContain(tag);
    // Before: "invalid value: ... Check the value against the column type (see the validation schemas)."
    expect(error.hint).not.toMatch(/validation schemas/);
    expect(error.hint).toMatch(/ACCESS EXCLUSIVE/);
    expect(error.hint).toMatch(/1\) add budget_new integer.*2\) backfill.*3\) deploy code.*4\) drop "budget" and rename budget_new/);
    expect(error.context).toMatchObject({ advice: 'type-change-expand-contract', type: 'integer', column: 'budget' });
    // The query it gives finds exactly the rows that would not convert.
    const rows = await admin.unsafe(String(error.context?.findBadRows));
    expect(rows.map((r) => String(r.budget))).toEqual(['about 5k']);

    // No cast at all (42804, drizzle-kit writes no USING) gets the same recipe.
    await writeFile(migrations.file(tag), 'ALTER TABLE "projects" ALTER COLUMN "budget" SET DATA TYPE integer;');
    const noCast = await run();
    expect(noCast.sqlState).toBe('42804');
    expect(noCast.hint).toMatch(/no automatic cast/);
    expect(noCast.context).toMatchObject({ advice: 'type-change-expand-contract' });
  });

  it('a failed CREATE UNIQUE INDEX CONCURRENTLY: the duplicated key, a query listing the duplicates, the INVALID index dropped', async () => {
    const tag = await migrations.add('unique_project_names', ['CREATE UNIQUE INDEX CONCURRENTLY "projects_name_unique" ON "projects" USING btree ("name");']);
    await admin`INSERT INTO projects (name, created_by) VALUES ('one', ${userId})`;
    const error = await run();
    expect(error.sqlState).toBe('23505');
    // Before: the message said only 'could not create unique index "projects_name_unique"'.
    expect(error.message).toContain('duplicate key (name)=(one)');
    expect(error.message).toContain('The INVALID index the failed build left (public.projects_name_unique) was dropped');
    expect(error.context).toMatchObject({ migration: tag, invalidIndexesDropped: ['public.projects_name_unique'], duplicateKey: { columns: 'name', value: 'one', masked: false } });
    const list = String(error.context?.listDuplicates);
    expect(error.hint).toContain(list);
    expect(await admin.unsafe(list)).toEqual([{ name: 'one', count: '2' }]);
    expect(await admin`SELECT 1 FROM pg_class WHERE relname = 'projects_name_unique'`).toHaveLength(0);
  });

  it('a unique constraint over a personal-data column: the key is named, its value hidden', async () => {
    // The database lost its unique constraint (dropped by hand) and a second row with the same
    // blind index got in; the migration that adds one back fails on it.
    await admin`ALTER TABLE users DROP CONSTRAINT users_email_hash_unique`;
    await insertUser(admin, { email: 'ada@example.com', name: 'Ada again' });
    await migrations.add('email_unique_again', ['ALTER TABLE "users" ADD CONSTRAINT "users_email_hash_key" UNIQUE("email_hash");']);
    const error = await run();
    expect(error.sqlState).toBe('23505');
    const hex = emailHash('ada@example.com').toString('hex');
    const shown = JSON.stringify({ message: error.message, hint: error.hint, context: error.context });
    expect(shown).not.toContain(hex);
    expect(error.message).toContain('duplicate key (email_hash)=(<hidden: email_hash is personal data');
    expect(error.context).toMatchObject({ duplicateKey: { columns: 'email_hash', masked: true } });
    // The query still lists the duplicates (the person running it may look; the message does not).
    const duplicates = await admin.unsafe(String(error.context?.listDuplicates));
    expect(duplicates).toHaveLength(1);
    expect(duplicates[0]?.count).toBe('2');
  });
});
