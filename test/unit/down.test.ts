import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { generateDown } from '../../src/migrate/down.ts';
import { defaultMigrationsDir } from '../../src/migrate/runner.ts';
import { loadMigrations } from '../../src/migrate/source.ts';
import { stripComments } from '../../src/migrate/statements.ts';
import { PACKAGE_TAGS, snapshotName } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';

interface Snapshot {
  id: string;
  prevId: string;
  tables: Record<string, { columns: Record<string, unknown> }>;
  enums: Record<string, { values: string[] }>;
}

const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

/** A copy of drizzle/ (generateDown writes into the folder it is given; never the real one). */
async function copy(): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'jeex-down-'));
  const dir = join(parent, 'drizzle');
  temps.push(parent); // the mkdtemp folder, not just drizzle/ inside it
  await cp(defaultMigrationsDir, dir, { recursive: true });
  return dir;
}

/** The number of the next migration (`0004` after the package's 0000-0003). */
const NEXT = String(PACKAGE_TAGS.length).padStart(4, '0');

/** Add migration NEXT to the copy: `up` SQL and the newest snapshot changed by `change`. */
async function addMigration(dir: string, tag: string, up: string, change: (snapshot: Snapshot) => void): Promise<void> {
  const parent = JSON.parse(await readFile(join(dir, 'meta', snapshotName(PACKAGE_TAGS.length - 1)), 'utf8')) as Snapshot;
  const snapshot = structuredClone(parent);
  snapshot.prevId = parent.id;
  snapshot.id = '11111111-2222-4333-8444-555555555555';
  change(snapshot);
  await writeFile(join(dir, 'meta', snapshotName(PACKAGE_TAGS.length)), JSON.stringify(snapshot, null, 2));
  await writeFile(join(dir, `${tag}.sql`), up);
  const journalFile = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalFile, 'utf8')) as { entries: { idx: number; when: number; tag: string }[] };
  journal.entries.push({ idx: PACKAGE_TAGS.length, version: '7', when: Date.now(), tag, breakpoints: true } as never);
  await writeFile(journalFile, JSON.stringify(journal, null, 2));
}

/** The statement lines of a file (comments and blank lines left out). */
const statementLines = (sql: string) => sql.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'));

describe('generateDown', () => {
  afterEach(() => {
    vi.doUnmock('drizzle-kit/api');
    vi.resetModules();
  });

  it('drafts DROP COLUMN, with an irreversible warning right above it, for a migration that adds a column', async () => {
    const dir = await copy();
    await addMigration(dir, `${NEXT}_add_nickname`, 'ALTER TABLE "users" ADD COLUMN "nickname" text;', (s) => {
      s.tables['public.users']!.columns.nickname = { name: 'nickname', type: 'text', primaryKey: false, notNull: false };
    });
    const result = await generateDown(dir, `${NEXT}_add_nickname`);
    expect(result.file).toBe(join(dir, `${NEXT}_add_nickname.down.sql`));
    expect(result.custom).toBe(false);
    expect(await readFile(result.file, 'utf8')).toBe(result.sql);
    const lines = result.sql.split('\n');
    expect(lines[0]).toBe('-- jeex:draft');
    expect(result.sql).toMatch(/review/i);
    const drop = lines.indexOf('ALTER TABLE "users" DROP COLUMN "nickname";');
    expect(drop).toBeGreaterThan(0);
    expect(lines[drop - 1]).toMatch(/^-- WARNING: irreversible: dropping column "nickname" of "users" loses its data$/);
    expect(result.warnings).toEqual([expect.stringMatching(/irreversible: dropping column "nickname"/)]);
    expect(statementLines(result.sql)).toEqual(['ALTER TABLE "users" DROP COLUMN "nickname";']);

    // The runner reads it as a draft with exactly that one statement, and refuses it until reviewed.
    const migration = (await loadMigrations(dir)).migrations.find((m) => m.tag === `${NEXT}_add_nickname`);
    expect(migration?.down?.draft).toBe(true);
    expect(migration?.down?.statements.map((s) => stripComments(s.sql).trim())).toEqual(['ALTER TABLE "users" DROP COLUMN "nickname";']);
  });

  it('lists statements of the up file that the snapshots do not explain (hand-written) as a TODO', async () => {
    const dir = await copy();
    const up = 'ALTER TABLE "users" ADD COLUMN "nickname" text;--> statement-breakpoint\nUPDATE "users" SET "nickname" = "name";';
    await addMigration(dir, `${NEXT}_add_nickname`, up, (s) => {
      s.tables['public.users']!.columns.nickname = { name: 'nickname', type: 'text', primaryKey: false, notNull: false };
    });
    const result = await generateDown(dir, `${NEXT}_add_nickname`);
    expect(result.warnings.join('\n')).toMatch(new RegExp(`1 statement\\(s\\) of ${NEXT}_add_nickname\\.sql were not generated by drizzle-kit`));
    expect(result.sql).toMatch(/^-- {3}UPDATE "users" SET "nickname" = "name";$/m);
    expect(result.sql).not.toMatch(/^-- {3}ALTER TABLE "users" ADD COLUMN/m);
    expect(result.sql).toMatch(/^-- TODO/m);
    expect(statementLines(result.sql)).toEqual(['ALTER TABLE "users" DROP COLUMN "nickname";']);
  });

  it('drafts the first migration against the empty schema: every table and type dropped, each with a warning', async () => {
    const dir = await copy();
    const result = await generateDown(dir, '0000_init', { overwrite: true });
    const statements = statementLines(result.sql);
    expect(statements.filter((s) => s.startsWith('DROP TABLE'))).toHaveLength(5);
    expect(statements.filter((s) => s.startsWith('DROP TYPE'))).toHaveLength(5);
    expect(statements).toHaveLength(10);
    const lines = result.sql.split('\n');
    for (const statement of statements) expect(lines[lines.indexOf(statement) - 1]).toMatch(/^-- WARNING: irreversible: /);
    expect(result.sql.split('--> statement-breakpoint')).toHaveLength(10);
    expect(result.warnings).toHaveLength(10);
  });

  it('says when a migration would remove enum values, which PostgreSQL cannot do', async () => {
    const dir = await copy();
    await addMigration(dir, `${NEXT}_document_type_notes`, `ALTER TYPE "public"."document_type" ADD VALUE 'notes';`, (s) => {
      s.enums['public.document_type']!.values.push('notes');
    });
    const result = await generateDown(dir, `${NEXT}_document_type_notes`);
    expect(result.warnings.join('\n')).toMatch(/enum values cannot be removed: "public"\."document_type" would lose 'notes'/);
    const lines = result.sql.split('\n');
    const dropType = lines.findIndex((l) => l.startsWith('DROP TYPE "public"."document_type"'));
    expect(dropType).toBeGreaterThan(0);
    expect(lines[dropType - 1]).toMatch(/^-- WARNING: irreversible: enum values cannot be removed/);
    // The type is recreated, not lost, so there is no "dropping type" warning for it.
    expect(result.sql).not.toMatch(/dropping type "public"\."document_type"/);
  });

  it('drafts a TODO for a custom migration (0001): Drizzle cannot model it, its statements are repeated as comments', async () => {
    const dir = await copy();
    const result = await generateDown(dir, '0001_updated_at_triggers', { overwrite: true });
    expect(result.custom).toBe(true);
    expect(result.sql.split('\n')[0]).toBe('-- jeex:draft');
    expect(result.sql).toMatch(/Drizzle cannot model this SQL/);
    expect(result.sql).toMatch(/^-- TODO/m);
    expect(result.sql).toMatch(/^-- {3}CREATE TRIGGER "users_set_updated_at" BEFORE UPDATE ON "public"\."users"$/m);
    expect(result.sql).toMatch(/^-- {3}CREATE FUNCTION "public"\."jeex_document_versions_append_only"\(\) RETURNS trigger$/m);
    expect(statementLines(result.sql)).toEqual([]);
    expect(result.warnings.join('\n')).toMatch(/custom SQL that Drizzle cannot model/);
    const migration = (await loadMigrations(dir)).migrations.find((m) => m.tag === '0001_updated_at_triggers');
    expect(migration?.down).toMatchObject({ draft: true, statements: [] });
  });

  it('refuses to overwrite an existing down file unless asked to', async () => {
    const dir = await copy();
    const file = join(dir, '0002_deferred_author_fks.down.sql');
    const reviewed = await readFile(file, 'utf8');
    const error = await rejection(generateDown(dir, '0002_deferred_author_fks'));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(/0002_deferred_author_fks\.down\.sql already exists; it was not changed/);
    expect(error.hint).toMatch(/--force/);
    expect(await readFile(file, 'utf8')).toBe(reviewed);

    const again = await generateDown(dir, '0002', { overwrite: true });
    expect(again.file).toBe(file);
    expect(await readFile(file, 'utf8')).toBe(again.sql);
    expect(again.sql).not.toBe(reviewed);
  });

  it('drafts a TODO instead of asking when the diff may be a rename (drizzle-kit would prompt on stdin)', async () => {
    const dir = await copy();
    await addMigration(dir, `${NEXT}_rename_name`, 'ALTER TABLE "users" RENAME COLUMN "name" TO "display_name";', (s) => {
      const columns = s.tables['public.users']!.columns;
      columns.display_name = { ...(columns.name as object), name: 'display_name' };
      delete columns.name;
    });
    const result = await generateDown(dir, `${NEXT}_rename_name`);
    expect(result.custom).toBe(true);
    expect(result.warnings.join('\n')).toMatch(/columns of public\.users: display_name go, name appear/);
    expect(result.sql).toMatch(/RENAME COLUMN new TO old/);
    expect(result.sql).toMatch(/^-- TODO/m);
  }, 10_000);

  it('names unknown migrations and lists the known ones', async () => {
    const error = await rejection(generateDown(await copy(), '0042_nothing'));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.hint).toContain(PACKAGE_TAGS.join(', '));
  });

  it('says to install drizzle-kit when its API cannot be loaded', async () => {
    const dir = await copy();
    await addMigration(dir, `${NEXT}_add_nickname`, 'ALTER TABLE "users" ADD COLUMN "nickname" text;', (s) => {
      s.tables['public.users']!.columns.nickname = { name: 'nickname', type: 'text', primaryKey: false, notNull: false };
    });
    vi.resetModules();
    vi.doMock('drizzle-kit/api', () => {
      throw new Error("Cannot find package 'drizzle-kit'");
    });
    const { generateDown: isolated } = await import('../../src/migrate/down.ts');
    // A fresh module graph: its JeexDbError is another class than the one imported above.
    const error = (await isolated(dir, `${NEXT}_add_nickname`).then(
      () => undefined,
      (e: unknown) => e,
    )) as { name?: string; code?: string; message: string; hint?: string } | undefined;
    expect(error?.name).toBe('JeexDbError');
    expect(error?.code).toBe('INVALID_CONFIG');
    expect(error?.message).toMatch(/cannot load drizzle-kit/);
    expect(error?.hint).toMatch(/npm i -D drizzle-kit/);
  });
});

describe('the committed down files', () => {
  it('are reviewed (no draft marker) for every migration, and 0000 keeps its warnings', async () => {
    const source = await loadMigrations(defaultMigrationsDir);
    for (const migration of source.migrations) {
      expect(migration.down, `${migration.tag}.down.sql`).toBeDefined();
      expect(migration.down?.draft, `${migration.tag}.down.sql`).toBe(false);
      expect(migration.down?.mode).toBe('transaction');
    }
    const init = await readFile(join(defaultMigrationsDir, '0000_init.down.sql'), 'utf8');
    const lines = init.split('\n');
    for (const statement of statementLines(init)) expect(lines[lines.indexOf(statement) - 1], statement).toMatch(/^-- WARNING: irreversible: /);
  });
});
