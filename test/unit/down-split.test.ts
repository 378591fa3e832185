import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateDown } from '../../src/migrate/down.ts';
import { loadMigrations } from '../../src/migrate/source.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { addSplitIndex } from '../helpers/split-index.ts';

// Finding 5 of issue 17: after the recommended split (the generated CREATE INDEX moved into a
// custom migration of its own, as CREATE INDEX CONCURRENTLY), `generate-down` of the generated
// migration still dropped the index (its snapshot has it), and the custom migration that builds
// it got only a TODO. Each down draft now undoes what its own up file does.

const statementLines = (sql: string) => sql.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'));

describe('down drafts after a split', () => {
  let migrations: ScratchMigrations;
  let tags: { generated: string; index: string };
  beforeEach(async () => {
    migrations = await ScratchMigrations.create();
    tags = await addSplitIndex(migrations);
  });
  afterEach(() => migrations.remove());

  it('the generated migration drops only the column it adds, and says where the index went', async () => {
    const result = await generateDown(migrations.dir, tags.generated);
    // Before: DROP INDEX "projects_score_idx" came first, an index this file no longer creates.
    expect(statementLines(result.sql)).toEqual(['ALTER TABLE "projects" DROP COLUMN "score";']);
    expect(result.sql).toContain(`-- Left out: the snapshot has these objects, but ${tags.generated}.sql does not create them`);
    expect(result.sql).toMatch(new RegExp(`--   DROP INDEX "projects_score_idx";? \\(created by ${tags.index}, whose down file drops it\\)`));
    expect(result.warnings).toContainEqual(expect.stringMatching(new RegExp(`left out .*DROP INDEX.*does not create index projects_score_idx \\(${tags.index} creates it`)));
    expect(result.custom).toBe(false);
  });

  it('the custom migration that builds the index CONCURRENTLY gets a draft that drops it CONCURRENTLY, in its own file mode', async () => {
    const result = await generateDown(migrations.dir, tags.index);
    // Before: a TODO draft with no statement.
    expect(statementLines(result.sql)).toEqual(['DROP INDEX CONCURRENTLY IF EXISTS "projects_score_idx";']);
    expect(result.custom).toBe(false);
    const migration = (await loadMigrations(migrations.dir)).migrations.find((m) => m.tag === tags.index);
    expect(migration?.down?.mode).toBe('none');
    expect(migration?.down?.draft).toBe(true);
  });

  it('a custom migration with other statements keeps the TODO for them and still drops its index', async () => {
    const tag = await migrations.add('scores_more', ['CREATE INDEX IF NOT EXISTS scores_name_idx ON public.projects (name);', 'UPDATE projects SET score = 0;'], { snapshot: true });
    const result = await generateDown(migrations.dir, tag);
    expect(result.custom).toBe(true);
    expect(statementLines(result.sql)).toEqual(['DROP INDEX IF EXISTS "public"."scores_name_idx";']);
    expect(result.sql).toContain('--   UPDATE projects SET score = 0;');
    expect(result.sql).toContain('TODO');
  });
});
