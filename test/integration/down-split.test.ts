import { readFile, writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { generateDown } from '../../src/migrate/down.ts';
import { migrate, rollback } from '../../src/migrate/runner.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { addSplitIndex } from '../helpers/split-index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// Finding 5 of issue 17, on a real database: after the split (generated ADD COLUMN + CREATE INDEX,
// the index moved into a custom migration as CREATE INDEX CONCURRENTLY), the drafts used to be a
// TODO for the index migration and `DROP INDEX "projects_score_idx"` + DROP COLUMN for the
// generated one: once the index migration was undone by hand, rolling back the generated one
// failed on an index that no longer existed. Now both drafts, reviewed, undo exactly their file.

describe('rolling back a split migration with its drafts', () => {
  let db: TestDatabase;
  let sql: Sql;
  let admin: Sql;
  let migrations: ScratchMigrations;
  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    admin = connect(db.adminUrl, { max: 2, onnotice: () => {} });
    migrations = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
    await db.drop();
    await migrations.remove();
  });

  /** What a reviewer does after reading the draft: delete the draft marker line. */
  async function review(file: string): Promise<void> {
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^-- jeex:draft\n/, ''));
  }

  it('undoes the index migration (DROP INDEX CONCURRENTLY, outside a transaction), then the column, and applies both again', { timeout: 60_000 }, async () => {
    const tags = await addSplitIndex(migrations);
    const opts = { migrationsDir: migrations.dir, restorePoint: false };
    await migrate(sql, opts);
    const index = async () => (await admin<{ t: string | null }[]>`SELECT to_regclass('public.projects_score_idx')::text AS t`)[0]?.t ?? null;
    const column = async () => (await admin`SELECT 1 FROM pg_attribute WHERE attrelid = 'projects'::regclass AND attname = 'score' AND NOT attisdropped`).length;
    expect(await index()).toBe('projects_score_idx');

    await review((await generateDown(migrations.dir, tags.index)).file);
    await review((await generateDown(migrations.dir, tags.generated)).file);

    const first = await rollback(sql, { ...opts, steps: 1 });
    expect(first.rolledBack).toEqual([expect.objectContaining({ name: tags.index, transaction: 'none' })]);
    expect(await index()).toBeNull();
    expect(await column()).toBe(1);

    const second = await rollback(sql, { ...opts, steps: 1 });
    expect(second.rolledBack).toEqual([expect.objectContaining({ name: tags.generated, transaction: 'own' })]);
    expect(await column()).toBe(0);

    expect((await migrate(sql, opts)).applied.map((s) => s.name)).toEqual([tags.generated, tags.index]);
    expect(await index()).toBe('projects_score_idx');
  });
});
