import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { check, type CheckResult } from '../../src/migrate/check.ts';
import { PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';

type Snapshot = { id: string; prevId: string; tables: Record<string, { columns: Record<string, { name: string }> }> } & Record<string, unknown>;

const codes = (result: CheckResult) => result.problems.map((p) => p.code);

describe('check (the CI gate, no database)', () => {
  let scratch: ScratchMigrations;
  beforeEach(async () => {
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await scratch.remove();
  });

  const snapshotFile = (idx: number) => join(scratch.dir, 'meta', `${String(idx).padStart(4, '0')}_snapshot.json`);
  const readSnapshot = async (idx: number) => JSON.parse(await readFile(snapshotFile(idx), 'utf8')) as Snapshot;
  const writeSnapshot = (idx: number, snapshot: Snapshot) => writeFile(snapshotFile(idx), `${JSON.stringify(snapshot, null, 2)}\n`);

  /** A migration as `drizzle-kit generate --custom` writes it: the SQL, a journal entry, and a copy of the newest snapshot. */
  async function addCustom(name: string, text: string): Promise<{ tag: string; file: string }> {
    const tag = await scratch.add(name, []);
    await writeFile(scratch.file(tag), text);
    // Every migration needs a reviewed down file (check says so otherwise): not what these tests are about.
    await writeFile(scratch.file(tag, '.down.sql'), 'SELECT 1;\n');
    const idx = Number(tag.slice(0, 4));
    const previous = await readSnapshot(idx - 1);
    await writeSnapshot(idx, { ...previous, id: randomUUID(), prevId: previous.id });
    return { tag, file: scratch.file(tag) };
  }

  it('the committed migrations pass: no problems, no drift, the only findings suppressed with a reason', async () => {
    const result = await check();
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.drift).toEqual([]);
    expect(result.lint.migrations).toEqual(PACKAGE_TAGS);
    expect(result.lint.findings.length).toBeGreaterThan(0);
    expect(result.lint.findings.every((f) => f.suppressed && f.reason)).toBe(true);
    expect(result.lint.unsuppressed).toBe(0);
  });

  it('an unsuppressed squawk finding fails the gate with file, line and rule', async () => {
    const { tag, file } = await addCustom('slug_index', 'ALTER TABLE "projects" ADD COLUMN "slug" text;--> statement-breakpoint\nCREATE INDEX "projects_slug_idx" ON "projects" ("slug");\n');
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['MIGRATION_LINT']);
    const [problem] = result.problems;
    expect(problem?.migration).toBe(tag);
    expect(problem?.message).toContain(`${file}:2:1 require-concurrent-index-creation`);
    expect(problem?.hint).toContain(`-- jeex:lint-ignore require-concurrent-index-creation`);
    expect(result.drift).toEqual([]);
  });

  it('the same finding accepted in the file with a reason passes', async () => {
    await addCustom(
      'slug_index',
      '-- jeex:lint-ignore require-concurrent-index-creation small table\nALTER TABLE "projects" ADD COLUMN "slug" text;--> statement-breakpoint\nCREATE INDEX "projects_slug_idx" ON "projects" ("slug");\n',
    );
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.lint.findings.filter((f) => f.rule === 'require-concurrent-index-creation')).toEqual([
      expect.objectContaining({ line: 3, suppressed: true, reason: 'small table' }),
    ]);
  });

  it('a lint-ignore directive without a reason is an invalid directive (and suppresses nothing)', async () => {
    const { file } = await addCustom('slug_index', '-- jeex:lint-ignore require-concurrent-index-creation\nCREATE INDEX "projects_slug_idx" ON "projects" ("name");\n');
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result).sort()).toEqual(['MIGRATION_INVALID_DIRECTIVE', 'MIGRATION_LINT']);
    expect(result.problems.find((p) => p.code === 'MIGRATION_INVALID_DIRECTIVE')?.message).toBe(
      `${file}: line 1: jeex:lint-ignore needs a rule and a reason, e.g. "-- jeex:lint-ignore prefer-bigint-over-int counters stay small"`,
    );
  });

  it('a schema that the newest snapshot does not match is drift, with the SQL generating would write', async () => {
    const newest = await readSnapshot(PACKAGE_TAGS.length - 1);
    delete newest.tables['public.users']?.columns.email;
    await writeSnapshot(PACKAGE_TAGS.length - 1, newest);
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    // The edited snapshot also no longer matches its migration's SQL (which still adds email).
    expect(codes(result)).toEqual(['SCHEMA_DRIFT', 'MIGRATION_SQL_SNAPSHOT_MISMATCH']);
    expect(result.drift).toEqual(['ALTER TABLE "users" ADD COLUMN "email" text NOT NULL;']);
    expect(result.problems[0]?.message).toContain('ALTER TABLE "users" ADD COLUMN "email" text NOT NULL;');
    expect(result.problems[0]?.hint).toContain('npm run db:generate');
  });

  it('a change drizzle-kit would ask about (a rename?) is drift too, described instead of prompting', async () => {
    const newest = await readSnapshot(PACKAGE_TAGS.length - 1);
    const users = newest.tables['public.users'];
    const email = users?.columns.email;
    if (!users || !email) throw new Error('the snapshot has no users.email');
    delete users.columns.email;
    users.columns.email_address = { ...email, name: 'email_address' };
    await writeSnapshot(PACKAGE_TAGS.length - 1, newest);
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['SCHEMA_DRIFT']);
    expect(result.drift).toEqual([
      '-- table public.users: column email_address in the snapshot, not in the schema',
      '-- table public.users: column email in the schema, not in the snapshot',
    ]);
    expect(result.problems[0]?.hint).toMatch(/rename questions/);
  });

  it('two snapshots with the same parent are a collision', async () => {
    await addCustom('branch_a', 'SELECT 1;\n');
    await addCustom('branch_b', 'SELECT 2;\n');
    const [a, b] = [await readSnapshot(4), await readSnapshot(5)];
    await writeSnapshot(5, { ...b, prevId: a.prevId });
    const result = await check({ migrationsDir: scratch.dir });
    // Re-parented, 0005's snapshot records the audit trail as its own change, which its SQL (SELECT 1) does not make.
    expect(codes(result)).toEqual(['MIGRATION_COLLISION', 'MIGRATION_SQL_SNAPSHOT_MISMATCH']);
    expect(result.problems[0]?.message).toContain('meta/0004_snapshot.json (0004_audit_trail) and meta/0005_snapshot.json (0005_branch_a) were generated from the same parent snapshot');
  });

  it('a journal entry without its file is MIGRATION_FILE_MISSING', async () => {
    await rm(scratch.file('0002_deferred_author_fks'));
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_FILE_MISSING']);
    expect(result.problems[0]).toMatchObject({ migration: '0002_deferred_author_fks' });
    expect(result.problems[0]?.hint).toMatch(/Restore 0002_deferred_author_fks\.sql/);
  });

  it('a migration file missing from the journal is MIGRATION_NOT_IN_JOURNAL', async () => {
    await writeFile(join(scratch.dir, '0004_orphan.sql'), 'SELECT 1;\n');
    const result = await check({ migrationsDir: scratch.dir });
    expect(codes(result)).toEqual(['MIGRATION_NOT_IN_JOURNAL']);
    expect(result.problems[0]).toMatchObject({ migration: '0004_orphan' });
  });

  it('a journal with merge-conflict markers is reported, not thrown', async () => {
    const journal = await readFile(scratch.journalFile, 'utf8');
    await writeFile(scratch.journalFile, journal.replace('"entries": [', '"entries": [\n<<<<<<< HEAD\n=======\n>>>>>>> other'));
    const result = await check({ migrationsDir: scratch.dir });
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['MIGRATION_COLLISION']);
    expect(result.problems[0]?.message).toMatch(/_journal\.json is not valid JSON/);
  });
});
