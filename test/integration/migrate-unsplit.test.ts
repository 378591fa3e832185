import { writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { plan } from '../../src/migrate/plan.ts';
import { migrate } from '../../src/migrate/runner.ts';
import { PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// Issue 17, finding 3: "two CONCURRENTLY statements without a breakpoint (deploy exits 16 with
// SQLSTATE 25001)". Before the fix, migrate applied 0005_nickname, then sent 0006's one chunk
// as one query, which PostgreSQL ran as one implicit transaction: CREATE INDEX CONCURRENTLY
// failed with 25001 (MIGRATION_FAILED, exit 16), the deploy half done. Now migrate refuses before
// anything runs, and plan reports the same problem.

describe('migrate refuses statements that must run alone but share a chunk, before running anything', () => {
  let db: TestDatabase;
  let sql: Sql;
  let scratch: ScratchMigrations;
  let nickname: string;
  let unsplit: string;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    scratch = await ScratchMigrations.create();
    await migrate(sql, { migrationsDir: scratch.dir, restorePoint: false });
    nickname = await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], { snapshot: true, down: ['ALTER TABLE "users" DROP COLUMN "nickname";'] });
    unsplit = await scratch.add('two_indexes', [], { snapshot: true, down: ['DROP INDEX CONCURRENTLY IF EXISTS "users_name_idx";', 'DROP INDEX CONCURRENTLY IF EXISTS "users_login_idx";'] });
    await writeFile(scratch.file(unsplit), 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_name_idx" ON "users" ("name");\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "users_login_idx" ON "users" ("last_login_at");\n');
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await db?.drop();
    await scratch?.remove();
  });

  const ledgerNames = async () => (await sql<{ name: string }[]>`SELECT DISTINCT name FROM jeex_migrations.ledger ORDER BY name`).map((r) => r.name);

  it('throws MIGRATION_STATEMENTS_NOT_SPLIT naming file and lines; the migration before it did not run either', async () => {
    expect(await ledgerNames()).toEqual([...PACKAGE_TAGS].sort());
    const error = await rejection(migrate(sql, { migrationsDir: scratch.dir, restorePoint: false }));
    expect(error).toMatchObject({ code: 'MIGRATION_STATEMENTS_NOT_SPLIT' });
    expect(error.message).toContain(`${scratch.file(unsplit)}:1: 2 statements (lines 1, 2) without a \`--> statement-breakpoint\``);
    expect(error.hint).toContain('--> statement-breakpoint');
    // Nothing ran: no ledger row for either new migration, no column, no index.
    expect(await ledgerNames()).toEqual([...PACKAGE_TAGS].sort());
    expect(await sql`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'`).toHaveLength(0);
    expect(await sql`SELECT 1 FROM pg_indexes WHERE indexname IN ('users_name_idx', 'users_login_idx')`).toHaveLength(0);

    const planned = await plan(sql, { migrationsDir: scratch.dir, lint: false });
    expect(planned.problems.map((p) => [p.code, p.migration])).toEqual([['MIGRATION_STATEMENTS_NOT_SPLIT', unsplit]]);
  });

  it('with the breakpoint the hint asks for, both indexes are built', async () => {
    await writeFile(
      scratch.file(unsplit),
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_name_idx" ON "users" ("name");\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "users_login_idx" ON "users" ("last_login_at");\n',
    );
    const result = await migrate(sql, { migrationsDir: scratch.dir, restorePoint: false });
    expect(result.applied.map((s) => [s.name, s.transaction])).toEqual([
      [nickname, 'own'],
      [unsplit, 'none'],
    ]);
    expect(await sql`SELECT indexname FROM pg_indexes WHERE indexname IN ('users_name_idx', 'users_login_idx') ORDER BY 1`).toEqual([{ indexname: 'users_login_idx' }, { indexname: 'users_name_idx' }]);
  });
});
