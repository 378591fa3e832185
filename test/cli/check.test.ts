import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import type { CheckResult } from '../../src/migrate/index.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';

// Issue 17, finding 3, through the built binary: each of the scenarios used to exit 0
// from `jeex-db check`; now each exits with the code the deploy would have failed with (or the
// down file's), and `--allow-draft-down` lets only drafts pass.

describe('jeex-db check: what would block a deploy', () => {
  let scratch: ScratchMigrations;
  beforeEach(async () => {
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await scratch.remove();
  });
  const check = (...args: string[]) => runCli(['check', '--migrations-dir', scratch.dir, ...args], localEnv());

  it('mixed file exits 28, unsplit CONCURRENTLY statements exit MIGRATION_STATEMENTS_NOT_SPLIT', { timeout: 60_000 }, async () => {
    const mixed = await scratch.add('mixed', ['ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "nickname" text;', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_nickname_idx" ON "users" ("nickname");'], {
      snapshot: true,
      down: ['DROP INDEX IF EXISTS "users_nickname_idx";', 'ALTER TABLE "users" DROP COLUMN "nickname";'],
    });
    const first = await check();
    expectExit(first, EXIT.MIGRATION_MIXED_TRANSACTION);
    expect(first.stderr).toContain(`${scratch.file(mixed)} mixes statements`);

    // Split as the hint says, but the two index builds left in one chunk.
    await writeFile(scratch.file(mixed), 'ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "nickname" text;\n');
    await writeFile(scratch.file(mixed, '.down.sql'), 'ALTER TABLE "users" DROP COLUMN "nickname";\n');
    const indexes = await scratch.add('indexes', [], { snapshot: true, down: ['DROP INDEX CONCURRENTLY IF EXISTS "users_nickname_idx";', 'DROP INDEX CONCURRENTLY IF EXISTS "users_name_idx";'] });
    await writeFile(
      scratch.file(indexes),
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_nickname_idx" ON "users" ("nickname");\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "users_name_idx" ON "users" ("name");\n',
    );
    const second = await check('--json');
    expectExit(second, EXIT.MIGRATION_STATEMENTS_NOT_SPLIT);
    const result = parseJson<CheckResult & { exitCode: number }>(second);
    expect(result.problems.map((p) => [p.code, p.migration])).toEqual([['MIGRATION_STATEMENTS_NOT_SPLIT', indexes]]);
    expect(result.exitCode).toBe(EXIT.MIGRATION_STATEMENTS_NOT_SPLIT);

    await writeFile(scratch.file(indexes), (await readFile(scratch.file(indexes), 'utf8')).replace(';\nCREATE', ';\n--> statement-breakpoint\nCREATE'));
    expectExit(await check(), 0);
  });

  it('a draft down file exits MIGRATION_NO_DOWN, passes with --allow-draft-down; SQL edited away from its snapshot exits MIGRATION_SQL_SNAPSHOT_MISMATCH', { timeout: 60_000 }, async () => {
    await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "nickname" text;'], {
      snapshot: true,
      down: ['-- jeex:draft review me\nALTER TABLE "users" DROP COLUMN "nickname";'],
    });
    const draft = await check();
    expectExit(draft, EXIT.MIGRATION_NO_DOWN);
    expect(draft.stderr).toContain('is an unreviewed draft');
    const allowed = await check('--allow-draft-down');
    expectExit(allowed, 0);

    const file = scratch.file('0004_audit_trail');
    await writeFile(file, (await readFile(file, 'utf8')).replace('CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");--> statement-breakpoint', ''));
    const edited = await check('--allow-draft-down');
    expectExit(edited, EXIT.MIGRATION_SQL_SNAPSHOT_MISMATCH);
    expect(edited.stderr).toContain('CREATE INDEX "changes_at_brin_idx" ON "jeex_audit"."changes" USING brin ("at");');
  });
});
