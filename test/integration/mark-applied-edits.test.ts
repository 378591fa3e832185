import { readFile, writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { markApplied, migrate, status } from '../../src/migrate/runner.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { rejection as failure } from '../helpers/rejections.ts';

// Finding 5 of issue 17: `mark-applied` recorded the new checksum of an applied file whose
// statement had been changed (a real type change) without a word, so `status` said the database
// had the new statement. It now tells an edit of comments and whitespace (quiet) from a statement
// change (refused without --accept-changes, listed either way), and says when it cannot tell.

describe('mark-applied of an edited applied file', () => {
  let db: TestDatabase;
  let sql: Sql;
  let admin: Sql;
  let migrations: ScratchMigrations;
  let tag: string;
  const original = '-- scores for the ranking\nALTER TABLE "projects" ADD COLUMN "score" integer;--> statement-breakpoint\nCREATE INDEX "projects_score_idx" ON "projects" USING btree ("score");';

  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    admin = connect(db.adminUrl, { max: 2, onnotice: () => {} });
    migrations = await ScratchMigrations.create();
    tag = await migrations.add('scores', [original]);
    await writeFile(migrations.file(tag), original);
    await migrate(sql, { migrationsDir: migrations.dir, restorePoint: false });
  });
  afterEach(async () => {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
    await db.drop();
    await migrations.remove();
  });

  const opts = () => ({ migrationsDir: migrations.dir, restorePoint: false });
  const stateOf = async () => (await status(sql, opts())).migrations.find((m) => m.name === tag)?.state;

  it('accepts an edit of comments, whitespace and keyword case quietly', async () => {
    await writeFile(
      migrations.file(tag),
      '-- Scores for the ranking (see docs/ranking.md).\nalter table "projects"\n  add column "score" INTEGER ;\n--> statement-breakpoint\n/* read by the ranking query */\nCREATE INDEX "projects_score_idx" ON "projects" USING btree ( "score" );\n',
    );
    expect(await stateOf()).toBe('changed');
    const result = await markApplied(sql, { names: [tag] }, opts());
    expect(result).toMatchObject({ marked: [tag], warnings: [], edits: [{ migration: tag, verdict: 'cosmetic', changes: [] }] });
    expect(await stateOf()).toBe('applied');
  });

  it('refuses a real type change, listing the statement before and now, and records nothing', async () => {
    await writeFile(migrations.file(tag), original.replace('"score" integer', '"score" bigint'));
    const error = await failure(markApplied(sql, { names: [tag] }, opts()));
    expect(error.code).toBe('MIGRATION_CHECKSUM_MISMATCH');
    expect(error.message).toContain('`ALTER TABLE "projects" ADD COLUMN "score" integer;` is now `ALTER TABLE "projects" ADD COLUMN "score" bigint;`');
    expect(error.message).toContain('Nothing was recorded');
    expect(error.hint).toContain('--accept-changes');
    expect(error.context?.edits).toEqual([{ migration: tag, verdict: 'changed', changes: [{ before: 'ALTER TABLE "projects" ADD COLUMN "score" integer;', after: 'ALTER TABLE "projects" ADD COLUMN "score" bigint;' }] }]);
    // Before: it was recorded and status said applied, while the column is still an integer.
    expect(await stateOf()).toBe('changed');
    const [column] = await admin<{ type: string }[]>`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'projects'::regclass AND attname = 'score'`;
    expect(column?.type).toBe('integer');

    // Accepted explicitly (the column was changed by hand): recorded, and the warning says what changed.
    await admin`ALTER TABLE projects ALTER COLUMN score TYPE bigint`;
    const accepted = await markApplied(sql, { names: [tag], acceptChanges: true }, opts());
    expect(accepted.marked).toEqual([tag]);
    expect(accepted.warnings).toContainEqual(expect.stringContaining('`ALTER TABLE "projects" ADD COLUMN "score" integer;` is now `ALTER TABLE "projects" ADD COLUMN "score" bigint;`'));
    expect(await stateOf()).toBe('applied');
    // The accepted text is what the next edit is compared with.
    await writeFile(migrations.file(tag), `${await readFile(migrations.file(tag), 'utf8')}\n-- widened to bigint by hand on 2026-12-07\n`);
    expect((await markApplied(sql, { names: [tag] }, opts())).edits).toEqual([{ migration: tag, verdict: 'cosmetic', changes: [] }]);
  });

  it('lists added and removed statements too', async () => {
    await writeFile(migrations.file(tag), 'ALTER TABLE "projects" ADD COLUMN "score" integer;--> statement-breakpoint\nALTER TABLE "projects" ADD COLUMN "rank" integer;');
    const error = await failure(markApplied(sql, { names: [tag] }, opts()));
    expect(error.context?.edits).toEqual([
      {
        migration: tag,
        verdict: 'changed',
        changes: [{ before: 'CREATE INDEX "projects_score_idx" ON "projects" USING btree ("score");', after: 'ALTER TABLE "projects" ADD COLUMN "rank" integer;' }],
      },
    ]);
  });

  it('warns that an edit cannot be verified when the ledger kept no text (a ledger older than this)', async () => {
    // A ledger written before the applied text was kept has no such column; the runner adds it.
    await admin`ALTER TABLE jeex_migrations.ledger DROP COLUMN script`;
    await writeFile(migrations.file(tag), original.replace('"score" integer', '"score" bigint'));
    const result = await markApplied(sql, { names: [tag] }, opts());
    expect(result.marked).toEqual([tag]);
    expect(result.edits).toEqual([{ migration: tag, verdict: 'unverifiable', changes: [] }]);
    expect(result.warnings).toEqual([expect.stringMatching(new RegExp(`^${tag}: the ledger kept no copy of the text that was applied .* cannot be verified`))]);
    const [kept] = await admin<{ script: string | null }[]>`SELECT script FROM jeex_migrations.ledger WHERE name = ${tag} ORDER BY id DESC LIMIT 1`;
    expect(kept?.script).toContain('"score" bigint');
  });
});
