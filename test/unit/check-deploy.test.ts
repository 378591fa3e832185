import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { check, type CheckResult } from '../../src/migrate/check.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';

// Issue 17, finding 3: "`check` (the CI gate) passes what later blocks a deploy: a file mixing
// transactional and concurrent statements (deploy exits 28), two CONCURRENTLY statements without
// a breakpoint (deploy exits 16 with SQLSTATE 25001), missing or draft down files, SQL that
// differs from its snapshot." Before the fix each scenario below passed `check` (ok: true, no
// problems); now each fails it, naming the file, the line and the fix.

// squawk's findings on these scratch files (robust statements and the like) are not what is tested here.
const codes = (result: CheckResult) => result.problems.map((p) => p.code).filter((code) => code !== 'MIGRATION_LINT');
const UNDO = ['DROP INDEX IF EXISTS "users_name_idx";'];

describe('check catches offline what would block a deploy', () => {
  let scratch: ScratchMigrations;
  beforeEach(async () => {
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await scratch.remove();
  });

  it('the package migrations still pass (none of the new checks fires on them)', async () => {
    const result = await check();
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('(a) a file mixing transactional and concurrent statements is MIGRATION_MIXED_TRANSACTION, as migrate refuses it (exit 28)', async () => {
    const tag = await scratch.add(
      'mixed',
      ['ALTER TABLE "users" ADD COLUMN "nickname" text;', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_nickname_idx" ON "users" ("nickname");'],
      { snapshot: true, down: ['DROP INDEX IF EXISTS "users_nickname_idx";', 'ALTER TABLE "users" DROP COLUMN "nickname";'] },
    );
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['MIGRATION_MIXED_TRANSACTION']);
    expect(result.problems[0]).toMatchObject({ migration: tag });
    expect(result.problems[0]?.message).toContain(`${scratch.file(tag)} mixes statements that must run outside a transaction (line 2: CREATE INDEX CONCURRENTLY`);
    expect(result.problems[0]?.hint).toContain('drizzle-kit generate --custom');
  });

  it('(b) two CREATE INDEX CONCURRENTLY without a breakpoint between them are MIGRATION_STATEMENTS_NOT_SPLIT, naming the lines', async () => {
    const tag = await scratch.add('two_indexes', [], { snapshot: true, down: ['DROP INDEX CONCURRENTLY IF EXISTS "users_name_idx";', 'DROP INDEX CONCURRENTLY IF EXISTS "users_login_idx";'] });
    // One chunk: the runner sends it as one query, which PostgreSQL runs as one implicit transaction.
    await writeFile(
      scratch.file(tag),
      '-- two indexes\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "users_name_idx" ON "users" ("name");\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "users_login_idx" ON "users" ("last_login_at");\n',
    );
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['MIGRATION_STATEMENTS_NOT_SPLIT']);
    const [problem] = result.problems;
    expect(problem?.migration).toBe(tag);
    expect(problem?.message).toContain(`${scratch.file(tag)}:2: 2 statements (lines 2, 3) without a \`--> statement-breakpoint\``);
    expect(problem?.message).toContain('SQLSTATE 25001');
    expect(problem?.hint).toContain('`--> statement-breakpoint` after each of these statements (the first ends at line 2)');
  });

  it('(b) semicolons inside strings, dollar quotes and comments do not split a statement', async () => {
    const tag = await scratch.add('one_statement', [], { snapshot: true, down: UNDO });
    await writeFile(
      scratch.file(tag),
      [
        "-- a comment; with a semicolon\nCREATE INDEX CONCURRENTLY IF NOT EXISTS \"users_name_idx\" ON \"users\" (\"name\") WHERE \"name\" <> 'a;b' /* c; d */;",
        '--> statement-breakpoint',
        "DO $body$ BEGIN PERFORM 1; PERFORM 'x;y'; END $body$;",
        '--> statement-breakpoint',
        'SELECT E\'it\\\'s; fine\', "odd;name" FROM (SELECT 1 AS "odd;name") t;',
      ].join('\n'),
    );
    const result = await check({ migrationsDir: scratch.dir });
    // Only the mixed file: each chunk is one statement, so nothing is unsplit.
    expect(codes(result)).toEqual(['MIGRATION_MIXED_TRANSACTION']);
  });

  it('(b) the same statements as their own migration with breakpoints pass', async () => {
    await scratch.add('two_indexes', ['CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_name_idx" ON "users" ("name");', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_login_idx" ON "users" ("last_login_at");'], {
      snapshot: true,
      down: ['DROP INDEX CONCURRENTLY IF EXISTS "users_name_idx";', 'DROP INDEX CONCURRENTLY IF EXISTS "users_login_idx";'],
    });
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.problems).toEqual([]);
  });

  it('(c) a migration without a .down.sql is MIGRATION_NO_DOWN with the command that drafts one', async () => {
    const tag = await scratch.add('no_down', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], { snapshot: true });
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_NO_DOWN']);
    expect(result.problems[0]?.message).toBe(`${tag} has no down migration (${scratch.file(tag, '.down.sql')}), so it cannot be rolled back`);
    expect(result.problems[0]?.hint).toContain(`\`jeex-db migrate generate-down ${tag}\``);
    // --allow-draft-down does not let a missing one pass.
    expect(codes(await check({ migrationsDir: scratch.dir, allowDraftDown: true }))).toEqual(['MIGRATION_NO_DOWN']);
  });

  it('(c) a draft down file fails unless drafts are allowed; one with only comments always fails', async () => {
    const tag = await scratch.add('draft_down', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], {
      snapshot: true,
      down: ['-- jeex:draft generated by jeex-db migrate generate-down: review it, then delete this line\nALTER TABLE "users" DROP COLUMN "nickname";'],
    });
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_NO_DOWN']);
    expect(result.problems[0]?.message).toBe(`${scratch.file(tag, '.down.sql')}:1 is an unreviewed draft (its "-- jeex:draft" line), which rollback refuses`);
    expect(result.problems[0]?.hint).toMatch(/delete its "-- jeex:draft" line/);
    expect((await check({ migrationsDir: scratch.dir, allowDraftDown: true })).problems).toEqual([]);

    await writeFile(scratch.file(tag, '.down.sql'), '-- TODO: undo it\n');
    const empty = await check({ migrationsDir: scratch.dir, allowDraftDown: true });
    expect(codes(empty)).toEqual(['MIGRATION_NO_DOWN']);
    expect(empty.problems[0]?.message).toBe(`${scratch.file(tag, '.down.sql')} has no statements, only comments`);
  });

  it('(d) a generated migration whose SQL was edited so it no longer makes what its snapshot records is MIGRATION_SQL_SNAPSHOT_MISMATCH', async () => {
    // 0004_audit_trail was generated (its snapshot adds jeex_audit.changes): drop its BRIN index from the SQL.
    const file = scratch.file('0004_audit_trail');
    const text = await readFile(file, 'utf8');
    const index = 'CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");--> statement-breakpoint';
    expect(text).toContain(index);
    await writeFile(file, text.replace(index, ''));
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_SQL_SNAPSHOT_MISMATCH']);
    expect(result.problems[0]?.migration).toBe('0004_audit_trail');
    expect(result.problems[0]?.message).toContain(`${file} does not make what its snapshot (meta/0004_snapshot.json) records`);
    expect(result.problems[0]?.message).toContain('CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");');
  });

  it('(d) the recommended split (the index moved, CONCURRENTLY, to a custom migration after it) passes; quoting and spacing do not matter', async () => {
    const file = scratch.file('0004_audit_trail');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");--> statement-breakpoint', ''));
    await scratch.add('audit_index', ['CREATE INDEX CONCURRENTLY IF NOT EXISTS changes_at_brin_idx\n  ON jeex_audit.changes USING brin (at);'], {
      snapshot: true,
      down: ['DROP INDEX CONCURRENTLY IF EXISTS "jeex_audit"."changes_at_brin_idx";'],
    });
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.problems).toEqual([]);
  });
});
