import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as packageSchema from '../../src/schema/index.ts';
import { PACKAGE_MIGRATIONS } from './migrations.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SCHEMA = join(ROOT, 'src', 'schema');
const PG_CORE = join(ROOT, 'node_modules', 'drizzle-orm', 'pg-core', 'index.js');
const ORM = join(ROOT, 'node_modules', 'drizzle-orm', 'index.js');

type Snapshot = Record<string, unknown> & { id: string; prevId: string };
interface Journal {
  version: string;
  dialect: string;
  entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[];
}
interface DrizzleKitApi {
  generateDrizzleJson: (imports: Record<string, unknown>, prevId?: string) => unknown;
  generateMigration: (prev: unknown, cur: unknown) => Promise<string[]>;
}

/** Extra columns per table, as Drizzle code using `text` (e.g. `nickname: text('nickname')`). */
export interface SchemaChange {
  users?: string[];
  projects?: string[];
}

/**
 * The package's schema with columns added to `users` and/or `projects`: a scratch module (the
 * two table files copied with the columns inserted, every other export re-exported), as the
 * schema of a branch that changed them. Returns the module's index.ts.
 */
export async function writeScratchSchema(dir: string, change: SchemaChange): Promise<string> {
  await mkdir(dir, { recursive: true });
  const rewrite = (text: string) =>
    text
      .replace(/from '\.\/([^']+)'/g, (_m, file: string) => `from ${JSON.stringify(join(SCHEMA, file))}`)
      .replace(/from '\.\.\/([^']+)'/g, (_m, file: string) => `from ${JSON.stringify(join(ROOT, 'src', file))}`)
      .replace(/from 'drizzle-orm\/pg-core'/g, `from ${JSON.stringify(PG_CORE)}`)
      .replace(/from 'drizzle-orm'/g, `from ${JSON.stringify(ORM)}`);
  const replaced: string[] = [];
  for (const table of ['users', 'projects'] as const) {
    const columns = change[table];
    if (!columns?.length) continue;
    const source = await readFile(join(SCHEMA, `${table}.ts`), 'utf8');
    if (!source.includes('    ...timestamps,')) throw new Error(`src/schema/${table}.ts has no "...timestamps," line to insert columns before`);
    const text = rewrite(source).replace('    ...timestamps,', `${columns.map((c) => `    ${c.replace(/\btext\(/g, 'scratchText(')},`).join('\n')}\n    ...timestamps,`);
    await writeFile(join(dir, `${table}.ts`), `import { text as scratchText } from ${JSON.stringify(PG_CORE)};\n${text}`);
    replaced.push(table);
  }
  const others = Object.keys(packageSchema).filter((name) => !replaced.includes(name));
  const lines = [
    `export { ${others.join(', ')} } from ${JSON.stringify(join(SCHEMA, 'index.ts'))};`,
    ...replaced.map((table) => `export { ${table} } from './${table}.ts';`),
  ];
  const index = join(dir, 'index.ts');
  await writeFile(index, `${lines.join('\n')}\n`);
  return index;
}

/** What `drizzle-kit generate` writes for a branch: the SQL, the down SQL (reviewed), the snapshot, the journal entry. */
export interface BranchMigration {
  tag: string;
  idx: number;
  when: number;
  statements: string[];
  down: string[];
  snapshot: Snapshot;
}

async function drizzleKit(): Promise<DrizzleKitApi> {
  return await import('drizzle-kit/api');
}

export async function readSnapshot(dir: string, name: string): Promise<Snapshot> {
  return JSON.parse(await readFile(join(dir, 'meta', name), 'utf8')) as Snapshot;
}

export async function readJournal(dir: string): Promise<Journal> {
  return JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8')) as Journal;
}

/**
 * Generate a migration with drizzle-kit's API, as `drizzle-kit generate` on a branch would: from
 * the snapshot `parent` (a file in meta/) to the schema module. The number is the journal's last
 * idx + 1, as drizzle-kit numbers.
 */
export async function generateBranchMigration(dir: string, parent: string, schemaModule: string, name: string, when: number): Promise<BranchMigration> {
  const api = await drizzleKit();
  const prev = await readSnapshot(dir, parent);
  const schema = (await import(pathToFileURL(schemaModule).href)) as Record<string, unknown>;
  const snapshot = api.generateDrizzleJson(schema, prev.id) as Snapshot;
  const statements = await api.generateMigration(prev, snapshot);
  const down = await api.generateMigration(snapshot, prev);
  const journal = await readJournal(dir);
  const idx = (journal.entries.at(-1)?.idx ?? -1) + 1;
  return { tag: `${String(idx).padStart(4, '0')}_${name}`, idx, when, statements, down, snapshot };
}

/** Write a branch migration into a folder (journal entry appended; the snapshot file only when `snapshot`). */
export async function writeBranchMigration(dir: string, migration: BranchMigration, options: { snapshot?: boolean; down?: boolean } = {}): Promise<void> {
  await writeFile(join(dir, `${migration.tag}.sql`), migration.statements.join('--> statement-breakpoint\n'));
  if (options.down ?? true) await writeFile(join(dir, `${migration.tag}.down.sql`), migration.down.join('--> statement-breakpoint\n'));
  if (options.snapshot ?? true) await writeFile(join(dir, 'meta', `${migration.tag.slice(0, 4)}_snapshot.json`), JSON.stringify(migration.snapshot, null, 2));
  const journal = await readJournal(dir);
  journal.entries.push({ idx: migration.idx, version: '7', when: migration.when, tag: migration.tag, breakpoints: true });
  await writeFile(join(dir, 'meta', '_journal.json'), JSON.stringify(journal, null, 2));
}

/** The story of issue 17: two branches, each with a 0005, and the merge of both. */
export interface MergedBranches {
  root: string;
  /** Branch X: the package's migrations + 0005_archived_note (projects.archived_note). */
  branchX: string;
  /** Branch Y: the package's migrations + 0005_nickname (users.nickname). */
  branchY: string;
  /** Both merged: journal with both entries (both idx 5), meta/0005_snapshot.json of X, both .sql and .down.sql. */
  merged: string;
  schemaX: string;
  schemaY: string;
  /** The merged schema: both columns. */
  schemaMerged: string;
  x: BranchMigration;
  y: BranchMigration;
  remove: () => Promise<void>;
}

/**
 * Branch X adds `projects.archived_note`, branch Y `users.nickname`, each generating a 0005 from
 * 0004 (Y one minute later). The merge resolves the journal conflict by keeping both entries and
 * the meta/0005_snapshot.json conflict by keeping X's ("ours").
 */
export async function mergeBranches(): Promise<MergedBranches> {
  const root = await mkdtemp(join(tmpdir(), 'jeex-merge-'));
  const [branchX, branchY, merged] = [join(root, 'x'), join(root, 'y'), join(root, 'merged')];
  for (const dir of [branchX, branchY, merged]) await cp(PACKAGE_MIGRATIONS, dir, { recursive: true });
  const schemaX = await writeScratchSchema(join(root, 'schema-x'), { projects: ["archivedNote: text('archived_note')"] });
  const schemaY = await writeScratchSchema(join(root, 'schema-y'), { users: ["nickname: text('nickname')"] });
  const schemaMerged = await writeScratchSchema(join(root, 'schema-merged'), { projects: ["archivedNote: text('archived_note')"], users: ["nickname: text('nickname')"] });
  const newest = Math.max(...(await readJournal(merged)).entries.map((e) => e.when));
  const x = await generateBranchMigration(branchX, '0004_snapshot.json', schemaX, 'archived_note', newest + 60_000);
  const y = await generateBranchMigration(branchY, '0004_snapshot.json', schemaY, 'nickname', newest + 120_000);
  await writeBranchMigration(branchX, x);
  await writeBranchMigration(branchY, y);
  await writeBranchMigration(merged, x);
  await writeBranchMigration(merged, y, { snapshot: false });
  return { root, branchX, branchY, merged, schemaX, schemaY, schemaMerged, x, y, remove: () => rm(root, { recursive: true, force: true }) };
}
