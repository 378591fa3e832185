import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { check, type CheckResult } from '../../src/migrate/check.ts';
import { rebase } from '../../src/migrate/rebase.ts';
import { generateBranchMigration, mergeBranches, readJournal, readSnapshot, writeBranchMigration, writeScratchSchema, type MergedBranches } from '../helpers/merge-branches.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';

// Issue 17, finding 1: two branches each `drizzle-kit generate` a 0005 from 0004; the merge keeps
// both journal entries (both idx 5) and one side's meta/0005_snapshot.json. Before the fix `check`
// reported only SCHEMA_DRIFT and advised `npm run db:generate`, whose 0006 repeated the other
// branch's ADD COLUMN and then passed `check`; duplicate idx and numbers were not flagged.

// Missing down files (check reports them since the gate helper's change) are not what these tests are about: see check-deploy.test.ts.
const codes = (result: CheckResult) => result.problems.map((p) => p.code).filter((code) => code !== 'MIGRATION_NO_DOWN');
const collision = (result: CheckResult) => result.problems.find((p) => p.code === 'MIGRATION_COLLISION');
/** A hint may name `npm run db:generate` only to warn against it. */
const advisesGenerate = (result: CheckResult) => result.problems.some((p) => /npm run db:generate/.test(p.hint) && !/(Do not run|Not) `npm run db:generate`/.test(p.hint));
const listing = async (dir: string) => [...(await readdir(dir)).sort(), ...(await readdir(join(dir, 'meta'))).sort()];

describe('merging two branches that each generated a 0005 (check, rebase; no database)', () => {
  let branches: MergedBranches;
  beforeEach(async () => {
    branches = await mergeBranches();
  }, 60_000);
  afterEach(async () => {
    await branches.remove();
  });

  it('each branch alone passes check', async () => {
    expect((await check({ migrationsDir: branches.branchX, schemaModule: branches.schemaX })).problems).toEqual([]);
    expect((await check({ migrationsDir: branches.branchY, schemaModule: branches.schemaY })).problems).toEqual([]);
  });

  it('the merge fails check with one recipe naming the later migration, its .down.sql and `jeex-db rebase`; the drift does not advise db:generate', async () => {
    const result = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(codes(result)).toEqual(['MIGRATION_COLLISION', 'SCHEMA_DRIFT']);
    const problem = collision(result);
    expect(problem?.message).toContain('journal idx 5 is used by 0005_archived_note and 0005_nickname');
    expect(problem?.message).toContain('the number 0005 is used by 0005_archived_note.sql and 0005_nickname.sql');
    expect(problem?.message).toContain('meta/0005_snapshot.json can be the snapshot of only one of 0005_archived_note and 0005_nickname');
    expect(problem?.collision).toEqual({ kinds: ['duplicate-idx', 'duplicate-number', 'no-own-snapshot'], migrations: ['0005_archived_note', '0005_nickname'], rebase: '0005_nickname' });
    expect(problem?.hint).toContain('move 0005_nickname on top with `jeex-db rebase 0005_nickname`');
    expect(problem?.hint).toContain(`${branches.merged}/0005_nickname.down.sql`);
    expect(result.problems.find((p) => p.code === 'SCHEMA_DRIFT')?.hint).toContain('Do not run `npm run db:generate`');
    expect(result.problems.find((p) => p.code === 'SCHEMA_DRIFT')?.hint).toContain('`jeex-db rebase 0005_nickname`');
    expect(advisesGenerate(result)).toBe(false);
  });

  it('the 0006 that `npm run db:generate` writes after the merge repeats 0005_nickname and is caught', async () => {
    // What drizzle-kit generate writes: from the newest snapshot file (X's 0005) to the merged schema.
    const duplicate = await generateBranchMigration(branches.merged, '0005_snapshot.json', branches.schemaMerged, 'tidy', Date.now());
    expect(duplicate.tag).toBe('0006_tidy');
    expect(duplicate.statements).toEqual(['ALTER TABLE "users" ADD COLUMN "nickname" text;']);
    await writeBranchMigration(branches.merged, duplicate);
    const result = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(result.ok).toBe(false);
    const repeated = result.problems.find((p) => p.collision?.duplicate);
    expect(repeated?.message).toContain('0006_tidy repeats 1 schema change(s) of 0005_nickname ("ALTER TABLE "users" ADD COLUMN "nickname" text")');
    expect(repeated?.hint).toMatch(/^Delete 0006_tidy: .*0006_tidy\.sql, .*0006_tidy\.down\.sql, its snapshot \(meta\/0006_snapshot\.json\) and its journal entry/);
    expect(advisesGenerate(result)).toBe(false);
  });

  it('rebase moves 0005_nickname on top (0006, new when, files renamed, .down.sql kept), after which check passes', async () => {
    const before = await readJournal(branches.merged);
    const downBefore = await readFile(join(branches.merged, '0005_nickname.down.sql'), 'utf8');
    const result = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(result).toMatchObject({ from: '0005_nickname', to: '0006_nickname', idx: 6, kind: 'generated', sqlChanged: false, down: 'kept', unchanged: false });
    expect(result.statements).toEqual(['ALTER TABLE "users" ADD COLUMN "nickname" text;']);
    const journal = await readJournal(branches.merged);
    expect(journal.entries.map((e) => [e.idx, e.tag])).toEqual([...before.entries.slice(0, 6).map((e) => [e.idx, e.tag]), [6, '0006_nickname']]);
    expect(journal.entries.at(-1)?.when).toBeGreaterThan(Math.max(...before.entries.map((e) => e.when)));
    const files = await listing(branches.merged);
    expect(files).toEqual(expect.arrayContaining(['0006_nickname.sql', '0006_nickname.down.sql', '0006_snapshot.json']));
    expect(files).not.toContain('0005_nickname.sql');
    expect(files).not.toContain('0005_nickname.down.sql');
    expect(await readFile(join(branches.merged, '0006_nickname.down.sql'), 'utf8')).toBe(downBefore);
    const [x, y] = [await readSnapshot(branches.merged, '0005_snapshot.json'), await readSnapshot(branches.merged, '0006_snapshot.json')];
    expect(x.id).toBe(branches.x.snapshot.id);
    expect(y.prevId).toBe(x.id);
    const after = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(after.problems).toEqual([]);
  });

  it('--dry-run reports the same changes and writes nothing', async () => {
    const before = await listing(branches.merged);
    const journal = await readFile(join(branches.merged, 'meta', '_journal.json'), 'utf8');
    const result = await rebase('0005', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged, dryRun: true }).catch((e: unknown) => e);
    // "0005" names two migrations: refused, asking for the full name.
    expect(result).toMatchObject({ code: 'MIGRATION_REBASE_REFUSED', message: '0005 names 0005_archived_note and 0005_nickname' });
    const dry = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, to: '0006_nickname', down: 'kept' });
    expect(dry.changes.map((c) => c.action)).toEqual(['rename', 'rename', 'write', 'write']);
    expect(await listing(branches.merged)).toEqual(before);
    expect(await readFile(join(branches.merged, 'meta', '_journal.json'), 'utf8')).toBe(journal);
  });

  it('rebasing the side whose snapshot the merge kept rebuilds the other side\'s snapshot', async () => {
    const result = await rebase('0005_archived_note', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(result).toMatchObject({ to: '0006_archived_note', kind: 'generated', sqlChanged: false, down: 'kept' });
    expect(result.statements).toEqual(['ALTER TABLE "projects" ADD COLUMN "archived_note" text;']);
    expect(result.warnings.join('\n')).toContain("rewritten as 0005_nickname's");
    const rebuilt = await readSnapshot(branches.merged, '0005_snapshot.json');
    const { id: _a, prevId: _b, ...expected } = branches.y.snapshot;
    const { id: _c, prevId, ...actual } = rebuilt;
    expect(JSON.parse(JSON.stringify(actual))).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(prevId).toBe((await readSnapshot(branches.merged, '0004_snapshot.json')).id);
    expect((await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged })).problems).toEqual([]);
  });

  it('renumbered by hand with both snapshots (distinct idx and numbers): the same parent is still a collision naming the later one', async () => {
    await rename(join(branches.merged, '0005_nickname.sql'), join(branches.merged, '0006_nickname.sql'));
    await rename(join(branches.merged, '0005_nickname.down.sql'), join(branches.merged, '0006_nickname.down.sql'));
    await writeFile(join(branches.merged, 'meta', '0006_snapshot.json'), JSON.stringify(branches.y.snapshot, null, 2));
    const journal = await readJournal(branches.merged);
    journal.entries = journal.entries.map((e) => (e.tag === '0005_nickname' ? { ...e, idx: 6, tag: '0006_nickname' } : e));
    await writeFile(join(branches.merged, 'meta', '_journal.json'), JSON.stringify(journal, null, 2));
    const result = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(codes(result)).toEqual(['MIGRATION_COLLISION', 'SCHEMA_DRIFT']);
    expect(collision(result)?.collision).toMatchObject({ kinds: ['same-parent'], rebase: '0006_nickname' });
    expect(collision(result)?.message).toContain('meta/0005_snapshot.json (0005_archived_note) and meta/0006_snapshot.json (0006_nickname) were generated from the same parent snapshot (meta/0004_snapshot.json)');
    expect(advisesGenerate(result)).toBe(false);
    // The newest snapshot is Y's, generated without X's column: rebase regenerates from it.
    const rebased = await rebase('0006_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(rebased).toMatchObject({ to: '0006_nickname', idx: 6, sqlChanged: false, down: 'kept' });
    expect((await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged })).problems).toEqual([]);
  });

  it('renumbered by hand without its snapshot: the drift is that migration\'s change, and the hint rebases it instead of generating', async () => {
    await rename(join(branches.merged, '0005_nickname.sql'), join(branches.merged, '0006_nickname.sql'));
    await rename(join(branches.merged, '0005_nickname.down.sql'), join(branches.merged, '0006_nickname.down.sql'));
    const journal = await readJournal(branches.merged);
    journal.entries = journal.entries.map((e) => (e.tag === '0005_nickname' ? { ...e, idx: 6, tag: '0006_nickname' } : e));
    await writeFile(join(branches.merged, 'meta', '_journal.json'), JSON.stringify(journal, null, 2));
    const result = await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged });
    expect(codes(result)).toEqual(['SCHEMA_DRIFT']);
    expect(result.problems[0]?.hint).toContain('the drift is the change 0006_nickname already makes');
    expect(result.problems[0]?.hint).toContain('`jeex-db rebase 0006_nickname`');
    expect(advisesGenerate(result)).toBe(false);
  });

  // Regenerating used to write drizzle-kit's SQL whenever it differed: a backfill added by hand
  // was dropped, and an uncommitted schema edit went into the rebased migration, with one line
  // about the .down.sql draft.
  it('a statement added by hand (a backfill) is not dropped: refused naming it; --keep-sql renumbers it as it is', async () => {
    const file = join(branches.merged, '0005_nickname.sql');
    const backfill = `UPDATE "users" SET "nickname" = 'n/a' WHERE "nickname" IS NULL;`;
    const text = `${await readFile(file, 'utf8')}\n--> statement-breakpoint\n${backfill}`;
    await writeFile(file, text);
    const before = await listing(branches.merged);
    const refused = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'MIGRATION_REBASE_REFUSED' });
    const { message, hint } = refused as { message: string; hint: string };
    expect(message).toMatch(/^regenerated by drizzle-kit, 0005_nickname would not be the migration it is: 1 statement\(s\) only in \S*0005_nickname\.sql, which drizzle-kit does not write/);
    expect(message).toContain(backfill.slice(0, 40));
    expect(message).not.toContain('drizzle-kit writes from the schema now');
    expect(hint).toContain('`jeex-db rebase 0005_nickname --keep-sql`');
    expect(hint).toContain('the hand-made statements are then lost');
    expect(await listing(branches.merged)).toEqual(before);

    const kept = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged, sqlChoice: 'keep' });
    expect(kept).toMatchObject({ to: '0006_nickname', kind: 'generated', sqlKept: true, sqlChanged: false, down: 'kept' });
    expect(await readFile(join(branches.merged, '0006_nickname.sql'), 'utf8')).toBe(text);
    expect(codes(await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged }))).not.toContain('MIGRATION_COLLISION');
    expect(codes(await check({ migrationsDir: branches.merged, schemaModule: branches.schemaMerged }))).not.toContain('SCHEMA_DRIFT');
  });

  it('an uncommitted schema edit is not folded in: refused naming its statement; --keep-sql refused too; --regenerate takes it', async () => {
    const edited = await writeScratchSchema(join(branches.root, 'schema-edited'), { projects: ["archivedNote: text('archived_note')"], users: ["nickname: text('nickname')", "pronouns: text('pronouns')"] });
    const refused = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: edited }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'MIGRATION_REBASE_REFUSED' });
    const { message, hint } = refused as { message: string; hint: string };
    expect(message).toContain('1 statement(s) drizzle-kit writes from the schema now that the migration does not have');
    expect(message).toContain('ALTER TABLE "users" ADD COLUMN "pronouns" text;');
    expect(hint).toContain('`git stash`');
    expect(hint).toContain('(the schema changes then go into 0006_nickname)');
    const keep = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: edited, sqlChoice: 'keep' }).catch((e: unknown) => e);
    expect(keep).toMatchObject({ code: 'MIGRATION_REBASE_REFUSED' });
    expect((keep as Error).message).toMatch(/^0005_nickname cannot keep its SQL: the schema holds changes it lacks/);
    expect(await listing(branches.merged)).toContain('0005_nickname.sql');

    const taken = await rebase('0005_nickname', { migrationsDir: branches.merged, schemaModule: edited, sqlChoice: 'regenerated' });
    expect(taken).toMatchObject({ to: '0006_nickname', sqlChanged: true, sqlKept: false, down: 'drafted' });
    expect(taken.statements.join('\n')).toContain('"pronouns"');
  });

  it('a migration that does not exist is refused', async () => {
    await expect(rebase('0009_nope', { migrationsDir: branches.merged, schemaModule: branches.schemaMerged })).rejects.toMatchObject({
      code: 'MIGRATION_REBASE_REFUSED',
      message: `no migration named 0009_nope in ${branches.merged}`,
    });
  });
});

describe('collisions of custom migrations (ScratchMigrations)', () => {
  let scratch: ScratchMigrations;
  beforeEach(async () => {
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await scratch.remove();
  });

  it('a duplicate journal idx alone (distinct numbers) is flagged', async () => {
    await scratch.add('a', ['SELECT 1;'], { snapshot: true, down: ['SELECT 1;'] });
    await scratch.add('b', ['SELECT 2;'], { snapshot: true, down: ['SELECT 2;'] });
    const journal = await scratch.journal();
    journal.entries = journal.entries.map((e) => (e.tag === '0006_b' ? { ...e, idx: 5 } : e));
    await scratch.writeJournal(journal);
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_COLLISION']);
    expect(collision(result)).toMatchObject({ message: 'migrations from two branches collide: journal idx 5 is used by 0005_a and 0006_b', collision: { kinds: ['duplicate-idx'], rebase: '0006_b' } });
  });

  it('a duplicate number alone (distinct idx) is flagged, naming the later by when', async () => {
    await scratch.add('a', ['SELECT 1;'], { snapshot: true, down: ['SELECT 1;'] });
    const tag = await scratch.add('b', ['SELECT 2;'], { down: ['SELECT 2;'] });
    await rename(scratch.file(tag), scratch.file('0005_b'));
    await rename(scratch.file(tag, '.down.sql'), scratch.file('0005_b', '.down.sql'));
    const journal = await scratch.journal();
    journal.entries = journal.entries.map((e) => (e.tag === tag ? { ...e, tag: '0005_b', when: e.when - 10_000 } : e));
    await scratch.writeJournal(journal);
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_COLLISION']);
    // 0005_b is older by `when`: 0005_a is the one to move.
    expect(collision(result)?.collision).toMatchObject({ kinds: ['duplicate-number', 'no-own-snapshot'], rebase: '0005_a' });
  });

  // Before: any statement equal to an earlier one was a "repeat", so a column dropped and later
  // added back (or an index dropped and re-created) failed check with no way past it.
  it('making again what a migration in between dropped is no repeat; making it again without that drop is', async () => {
    const add = 'ALTER TABLE "users" ADD COLUMN "nickname" text;';
    const index = 'CREATE INDEX "users_nickname_idx" ON "users" USING btree ("nickname");';
    await scratch.add('add', [add, index], { snapshot: true, down: ['SELECT 1;'] });
    await scratch.add('drop', ['DROP INDEX "users_nickname_idx";', 'ALTER TABLE "public"."users" DROP COLUMN IF EXISTS "nickname";'], { snapshot: true, down: ['SELECT 1;'] });
    await scratch.add('add_back', [add, index], { snapshot: true, down: ['SELECT 1;'] });
    const collisions = async () => (await check({ migrationsDir: scratch.dir })).problems.filter((p) => p.code === 'MIGRATION_COLLISION');
    expect(await collisions()).toEqual([]);
    // A fourth making them a third time, with no drop after add_back: a repeat of add_back.
    await scratch.add('again', [index], { snapshot: true, down: ['SELECT 1;'] });
    const [repeat] = await collisions();
    expect(repeat?.collision).toMatchObject({ kinds: ['repeated-change'], migrations: ['0007_add_back', '0008_again'] });
  });

  it('a custom migration is renumbered and its snapshot re-chained (no drizzle-kit regeneration)', async () => {
    await scratch.add('a', ['SELECT 1;'], { snapshot: true, down: ['SELECT 4;'] });
    await scratch.add('b', ['SELECT 2;'], { snapshot: true, down: ['SELECT 3;'] });
    // Branch b generated from 0004 too: same parent, then renumbered by hand.
    const parent = JSON.parse(await readFile(join(scratch.dir, 'meta', '0004_snapshot.json'), 'utf8')) as { id: string };
    const b = JSON.parse(await readFile(join(scratch.dir, 'meta', '0006_snapshot.json'), 'utf8')) as { id: string; prevId: string };
    await writeFile(join(scratch.dir, 'meta', '0006_snapshot.json'), JSON.stringify({ ...b, prevId: parent.id }));
    const journal = await scratch.journal();
    journal.entries = journal.entries.map((e) => (e.tag === '0005_a' ? { ...e, when: e.when + 60_000 } : e));
    await scratch.writeJournal(journal);
    expect(collision(await check({ migrationsDir: scratch.dir }))?.collision).toMatchObject({ kinds: ['same-parent'], rebase: '0005_a' });
    const result = await rebase('0005_a', { migrationsDir: scratch.dir });
    expect(result).toMatchObject({ from: '0005_a', to: '0007_a', idx: 7, kind: 'custom', sqlChanged: false, down: 'kept' });
    const chained = JSON.parse(await readFile(join(scratch.dir, 'meta', '0007_snapshot.json'), 'utf8')) as { prevId: string };
    expect(chained.prevId).toBe(b.id);
    expect(codes(await check({ migrationsDir: scratch.dir }))).toEqual([]);
  });
});
