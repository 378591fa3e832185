import { cp, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { check } from '../../src/migrate/check.ts';
import { rebase } from '../../src/migrate/rebase.ts';
import { markApplied, migrate, status } from '../../src/migrate/runner.ts';
import { generateBranchMigration, mergeBranches, readJournal, writeBranchMigration, type MergedBranches } from '../helpers/merge-branches.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { rejection as failure } from '../helpers/rejections.ts';

// Issue 17, finding 1, end to end on PostgreSQL 18. Before the fix: `check` on the merge said only
// SCHEMA_DRIFT with "run `npm run db:generate`"; the 0006 that wrote repeated
// `ALTER TABLE "users" ADD COLUMN "nickname"`, passed `check`, and `migrate` then failed on every
// database ("column already exists"); status's collision hint named no migration, and
// `--allow-out-of-order` could not get past a same-parent collision.

interface Database {
  db: TestDatabase;
  sql: Sql;
}

describe('two branches merged, one deployed first: check → rebase → check → migrate', () => {
  let branches: MergedBranches;
  const databases: Database[] = [];
  const open = async (): Promise<Database> => {
    const db = await createTestDatabase({ empty: true });
    const database = { db, sql: connect(db.migratorUrl, { max: 2, onnotice: () => {}, connection: { application_name: 'merge-rebase-test' } }) };
    databases.push(database);
    return database;
  };
  const columns = async ({ sql }: Database) =>
    (await sql<{ c: string }[]>`SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE column_name IN ('archived_note', 'nickname') ORDER BY 1`).map((r) => r.c);
  const applied = async ({ sql }: Database) => (await sql<{ name: string }[]>`SELECT name FROM jeex_migrations.ledger WHERE status = 'applied' ORDER BY id`).map((r) => r.name);

  beforeAll(async () => {
    branches = await mergeBranches();
  }, 60_000);
  afterAll(async () => {
    for (const { db, sql } of databases) {
      await sql.end({ timeout: 1 });
      await db.drop();
    }
    await branches.remove();
  });

  it('the story: status names the applied side, rebase refuses it, rebases the other, and both databases migrate', async () => {
    // Branch X was deployed first: its database has 0005_archived_note.
    const staging = await open();
    await migrate(staging.sql, { migrationsDir: branches.branchX, restorePoint: false });
    expect(await columns(staging)).toEqual(['projects.archived_note']);

    const gate = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(gate.problems.map((p) => p.code)).toEqual(['MIGRATION_COLLISION', 'SCHEMA_DRIFT']);
    expect(gate.problems[0]?.hint).toContain('`jeex-db rebase 0005_nickname`');

    // With the database, the hint says which side it has.
    const seen = await status(staging.sql, { migrationsDir: branches.merged });
    const collision = seen.problems.find((p) => p.code === 'MIGRATION_COLLISION');
    expect(collision?.hint).toContain('move 0005_nickname on top with `jeex-db rebase 0005_nickname` (0005_archived_note is applied to this database, 0005_nickname is not)');
    expect(collision?.hint).toContain('0005_nickname.down.sql');
    // A duplicate idx refuses even with --allow-out-of-order, before anything runs.
    expect((await failure(migrate(staging.sql, { migrationsDir: branches.merged, allowOutOfOrder: true, restorePoint: false }))).code).toBe('MIGRATION_COLLISION');
    expect(await applied(staging)).not.toContain('0005_nickname');

    const refused = await failure(rebase('0005_archived_note', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged, sql: staging.sql }));
    expect(refused.code).toBe('MIGRATION_REBASE_REFUSED');
    expect(refused.message).toBe('0005_archived_note is applied to this database: renamed, the database would report it missing and the new name pending');
    expect(refused.hint).toContain('`jeex-db rebase 0005_nickname`');

    const moved = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged, sql: staging.sql });
    expect(moved).toMatchObject({ from: '0005_nickname', to: '0006_nickname', down: 'kept', sqlChanged: false });
    expect((await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged })).problems).toEqual([]);

    const result = await migrate(staging.sql, { migrationsDir: branches.merged, restorePoint: false });
    expect(result.applied.map((s) => s.name)).toEqual(['0006_nickname']);
    expect(await columns(staging)).toEqual(['projects.archived_note', 'users.nickname']);

    const fresh = await open();
    const all = await migrate(fresh.sql, { migrationsDir: branches.merged, restorePoint: false });
    expect(all.applied.map((s) => s.name).slice(-2)).toEqual(['0005_archived_note', '0006_nickname']);
    expect(await columns(fresh)).toEqual(['projects.archived_note', 'users.nickname']);
    expect((await status(fresh.sql, { migrationsDir: branches.merged })).upToDate).toBe(true);
  }, 120_000);

  it('the duplicate 0006 that `npm run db:generate` writes is refused before it runs (it failed with "column already exists")', async () => {
    const dir = join(branches.root, 'generated');
    const fresh = await mergeBranches();
    try {
      await cp(fresh.merged, dir, { recursive: true });
      const duplicate = await generateBranchMigration(dir, '0005_snapshot.json', fresh.schemaMerged, 'tidy', Date.now());
      await writeBranchMigration(dir, duplicate);
      const database = await open();
      await migrate(database.sql, { migrationsDir: fresh.branchX, restorePoint: false });
      const error = await failure(migrate(database.sql, { migrationsDir: dir, allowOutOfOrder: true, restorePoint: false }));
      expect(error.code).toBe('MIGRATION_COLLISION');
      expect(error.message).toContain('0006_tidy repeats 1 schema change(s) of 0005_nickname');
      expect(await applied(database)).not.toContain('0006_tidy');
    } finally {
      await fresh.remove();
    }
  }, 120_000);

  it('renumbered by hand (distinct idx, same-parent snapshots): refused, then let through by --allow-out-of-order with a warning', async () => {
    const fresh = await mergeBranches();
    try {
      const dir = fresh.merged;
      await rename(join(dir, '0005_nickname.sql'), join(dir, '0006_nickname.sql'));
      await rename(join(dir, '0005_nickname.down.sql'), join(dir, '0006_nickname.down.sql'));
      await writeFile(join(dir, 'meta', '0006_snapshot.json'), JSON.stringify(fresh.y.snapshot, null, 2));
      const journal = await readJournal(dir);
      journal.entries = journal.entries.map((e) => (e.tag === '0005_nickname' ? { ...e, idx: 6, tag: '0006_nickname' } : e));
      await writeFile(join(dir, 'meta', '_journal.json'), JSON.stringify(journal, null, 2));

      const database = await open();
      await migrate(database.sql, { migrationsDir: fresh.branchX, restorePoint: false });
      const error = await failure(migrate(database.sql, { migrationsDir: dir, restorePoint: false }));
      expect(error.code).toBe('MIGRATION_COLLISION');
      expect(error.hint).toContain('0005_archived_note is applied to this database, 0006_nickname is not');
      const result = await migrate(database.sql, { migrationsDir: dir, allowOutOfOrder: true, restorePoint: false });
      expect(result.applied.map((s) => s.name)).toEqual(['0006_nickname']);
      expect(result.warnings.join('\n')).toMatch(/same parent snapshot.*let through by --allow-out-of-order/);
      expect(await columns(database)).toEqual(['projects.archived_note', 'users.nickname']);
    } finally {
      await fresh.remove();
    }
  }, 120_000);

  // The other side of the story: a database that applied 0005_nickname before the rebase moved
  // it (branch Y's preview). Before: status reported it missing with "restore its .sql file", the
  // rename was invisible, and mark-applied 0006_nickname added a second record of the same change.
  it('a database that has the moved migration under its old name: status names the new one, migrate runs nothing, mark-applied moves the record', async () => {
    const fresh = await mergeBranches();
    try {
      const preview = await open();
      await migrate(preview.sql, { migrationsDir: fresh.branchY, restorePoint: false });
      await rebase('0005_nickname', { migrationsDir: fresh.merged, schemaModule: fresh.schemaMerged });

      const seen = await status(preview.sql, { migrationsDir: fresh.merged, allowOutOfOrder: true });
      const problem = seen.problems.find((p) => p.code === 'MIGRATION_MISSING');
      expect(problem?.message).toContain('0005_nickname is applied to this database but is not in');
      expect(problem?.message).toContain('0006_nickname is the same file under a new name');
      expect(problem?.hint).toContain('`jeex-db mark-applied 0006_nickname` moves the ledger row of 0005_nickname to it');
      expect(problem?.hint).not.toContain('Restore its .sql file');
      // migrate refuses before running anything (0006_nickname would add users.nickname again).
      expect((await failure(migrate(preview.sql, { migrationsDir: fresh.merged, allowOutOfOrder: true, restorePoint: false }))).code).toBe('MIGRATION_MISSING');
      expect(await applied(preview)).toContain('0005_nickname');
      expect(await applied(preview)).not.toContain('0006_nickname');

      const marked = await markApplied(preview.sql, { names: ['0006_nickname'] }, { migrationsDir: fresh.merged });
      expect(marked).toMatchObject({ marked: [], renamed: [{ from: '0005_nickname', to: '0006_nickname' }] });
      const rows = await preview.sql<{ name: string; note: string }[]>`SELECT name, note FROM jeex_migrations.ledger WHERE name LIKE '%nickname' ORDER BY id`;
      expect(rows.map((r) => r.name)).toEqual(['0006_nickname']);
      expect(rows[0]?.note).toContain('recorded as 0005_nickname until mark-applied moved it to 0006_nickname');
      // drizzle-orm's table keeps one row of that file, at its new `when`.
      const sha = seen.migrations.find((m) => m.name === '0006_nickname')?.sha256 ?? '';
      const when = (await readJournal(fresh.merged)).entries.find((e) => e.tag === '0006_nickname')?.when;
      expect(await preview.sql<{ at: string }[]>`SELECT created_at::text AS at FROM drizzle.__drizzle_migrations WHERE hash = ${sha}`).toEqual([{ at: String(when) }]);

      // X's migration is older than the moved one: deliberately out of order here, then up to date.
      const result = await migrate(preview.sql, { migrationsDir: fresh.merged, allowOutOfOrder: true, restorePoint: false });
      expect(result.applied.map((s) => s.name)).toEqual(['0005_archived_note']);
      expect(await columns(preview)).toEqual(['projects.archived_note', 'users.nickname']);
      const after = await status(preview.sql, { migrationsDir: fresh.merged, allowOutOfOrder: true });
      expect(after.problems).toEqual([]);
      expect(after.upToDate).toBe(true);
    } finally {
      await fresh.remove();
    }
  }, 120_000);
});
