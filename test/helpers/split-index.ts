import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScratchMigrations } from './migrations.ts';
import { snapshotName } from './migrations.ts';

/** What drizzle-kit generates for `score: integer('score')` with `index('projects_score_idx').on(t.score)` on projects. */
export const GENERATED_SCORE_SQL = [
  'ALTER TABLE "projects" ADD COLUMN "score" integer;',
  'CREATE INDEX "projects_score_idx" ON "projects" USING btree ("score");',
];

/**
 * The recommended split of issue 17's finding 5, in a scratch folder: drizzle-kit generated a
 * migration adding a column and an index (its snapshot has both); the CREATE INDEX was moved out
 * of it into a custom migration of its own, as CREATE INDEX CONCURRENTLY (`drizzle-kit generate
 * --custom`: the same snapshot again). Returns the two tags.
 */
export async function addSplitIndex(migrations: ScratchMigrations): Promise<{ generated: string; index: string }> {
  const journal = await migrations.journal();
  const parentName = snapshotName(journal.entries.length - 1);
  const generated = await migrations.add('scores', [GENERATED_SCORE_SQL[0] ?? '']);
  const parent = JSON.parse(await readFile(join(migrations.dir, 'meta', parentName), 'utf8')) as {
    id: string;
    prevId: string;
    tables: Record<string, { columns: Record<string, unknown>; indexes: Record<string, unknown> }>;
  };
  const snapshot = structuredClone(parent);
  snapshot.prevId = parent.id;
  snapshot.id = '5c0e5c0e-0000-4000-8000-000000000005';
  const projects = snapshot.tables['public.projects'];
  if (!projects) throw new Error('no projects table in the snapshot');
  projects.columns.score = { name: 'score', type: 'integer', primaryKey: false, notNull: false };
  projects.indexes.projects_score_idx = {
    name: 'projects_score_idx',
    columns: [{ expression: 'score', isExpression: false, asc: true, nulls: 'last' }],
    isUnique: false,
    concurrently: false,
    method: 'btree',
    with: {},
  };
  await writeFile(join(migrations.dir, 'meta', snapshotName(journal.entries.length)), JSON.stringify(snapshot, null, 2));
  const index = await migrations.add('scores_index', ['CREATE INDEX CONCURRENTLY "projects_score_idx" ON "projects" USING btree ("score");'], { snapshot: true });
  return { generated, index };
}
