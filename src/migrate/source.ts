import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import { classifyStatement, type Classification } from './classify.ts';
import { parseDirectives, type Directives } from './directives.ts';
import { collisionProblems, detectCollisions, numberOf, type SnapshotFile } from './merge-conflicts.ts';
import type { Problem } from './problems.ts';
import { splitStatements, type Statement } from './statements.ts';

/** One side (up or down) of a migration: the file and what the runner will send. */
export interface MigrationScript {
  file: string;
  /** The file path as shown to people (relative to the working directory). */
  displayPath: string;
  text: string;
  /** sha256 of the file text, exactly as drizzle-orm hashes it. */
  sha256: string;
  statements: Statement[];
  classifications: Classification[];
  /** `transaction`: one transaction; `none`: statement by statement outside one; `mixed`: refused. */
  mode: 'transaction' | 'none' | 'mixed';
  directives: Directives;
}

export interface Migration {
  idx: number;
  tag: string;
  /** The journal's `when` (drizzle-orm records it as created_at). */
  when: number;
  up: MigrationScript;
  down?: MigrationScript & { draft: boolean };
  snapshot?: { id: string; prevId: string; file: string };
}

export interface MigrationSource {
  dir: string;
  migrations: Migration[];
  /** Problems found in the files alone (no database needed). */
  problems: Problem[];
  /** Every readable snapshot in meta/ (a migration's own is also on `Migration.snapshot`). */
  snapshots: (SnapshotFile & { file: string })[];
  /** The up `.sql` files in the folder, in the journal or not. */
  sqlFiles: string[];
}

interface Journal {
  entries: { idx: number; when: number; tag: string; breakpoints?: boolean }[];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function script(file: string, text: string, breakpoints = true): MigrationScript {
  const statements = splitStatements(text, breakpoints);
  const classifications = statements.map((s) => classifyStatement(s.sql));
  const outside = classifications.filter((c) => c.nonTransactional).length;
  const mode = outside === 0 ? 'transaction' : outside === statements.length ? 'none' : 'mixed';
  return {
    file,
    displayPath: displayPath(file),
    text,
    sha256: sha256(text),
    statements,
    classifications,
    mode,
    directives: parseDirectives(text),
  };
}

/** Relative to the working directory when inside it (drizzle/0003_x.sql), else absolute. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Read drizzle-kit's output folder: the journal, each migration's SQL (and `.down.sql`), and the
 * snapshots. File-level problems are collected, not thrown, so `status` and `check` can list them.
 */
export async function loadMigrations(dir: string): Promise<MigrationSource> {
  const journalFile = join(dir, 'meta', '_journal.json');
  const journalText = await readIfExists(journalFile);
  if (journalText === undefined) {
    throw new JeexDbError('MIGRATION_FILE_MISSING', `no migrations in ${dir}: ${journalFile} does not exist`, {
      hint: 'Point --migrations-dir (or `out` in drizzle.config.ts) at drizzle-kit\'s output folder, or run `npm run db:generate`.',
      context: { dir },
    });
  }
  let journal: Journal;
  try {
    journal = JSON.parse(journalText) as Journal;
  } catch (error) {
    throw new JeexDbError('MIGRATION_COLLISION', `${journalFile} is not valid JSON (an unresolved merge conflict?)`, {
      hint: 'Resolve the conflict so every migration has one entry, in idx order, then run `jeex-db check`.',
      cause: error,
    });
  }

  const problems: Problem[] = [];
  const migrations: Migration[] = [];
  const seen = new Map<string, number>();
  for (const entry of journal.entries) {
    const file = join(dir, `${entry.tag}.sql`);
    if (seen.has(entry.tag)) {
      problems.push({
        code: 'MIGRATION_COLLISION',
        migration: entry.tag,
        message: `the journal lists ${entry.tag} twice`,
        hint: `Remove the duplicate entry from ${journalFile}.`,
      });
      continue;
    }
    seen.set(entry.tag, entry.idx);
    const text = await readIfExists(file);
    if (text === undefined) {
      problems.push({
        code: 'MIGRATION_FILE_MISSING',
        migration: entry.tag,
        message: `the journal lists ${entry.tag}, but ${file} does not exist`,
        hint: `Restore ${entry.tag}.sql from version control (\`git log --all -- '${file}'\`), or, if the migration was never applied anywhere, remove its entry from ${journalFile} and its snapshot.`,
      });
      continue;
    }
    const downFile = join(dir, `${entry.tag}.down.sql`);
    const downText = await readIfExists(downFile);
    const migration: Migration = { idx: entry.idx, tag: entry.tag, when: entry.when, up: script(file, text, entry.breakpoints ?? true) };
    if (downText !== undefined) {
      migration.down = { ...script(downFile, downText), draft: /^\s*--\s*jeex:draft\b/m.test(downText) };
    }
    migrations.push(migration);
  }

  const snapshots = await attachSnapshots(dir, migrations, problems);

  const listed = new Set(journal.entries.map((e) => `${e.tag}.sql`));
  const sqlFiles = (await readdir(dir)).filter((name) => name.endsWith('.sql') && !name.endsWith('.down.sql')).sort();
  for (const name of sqlFiles) {
    if (listed.has(name)) continue;
    problems.push({
      code: 'MIGRATION_NOT_IN_JOURNAL',
      migration: name.replace(/\.sql$/, ''),
      message: `${join(dir, name)} is not in the journal, so no runner will apply it (a merge that dropped its journal entry?)`,
      hint: `Add its entry back to ${journalFile} (idx, tag, when, breakpoints), or delete the file if it is a leftover; then run \`jeex-db check\`.`,
    });
  }
  // Stable: two entries with one idx (a merge that kept both) stay in journal order.
  migrations.sort((a, b) => a.idx - b.idx);
  problems.push(...collisionProblems(detectCollisions({ dir, migrations, snapshots, sqlFiles }), { dir, migrations }));
  return { dir, migrations, problems, snapshots, sqlFiles };
}

/**
 * Read meta/*_snapshot.json and give each migration its own (same number prefix). When two
 * migrations share a number (a merge kept both), the one file of that name can be only one
 * side's: it is given to neither, and detectCollisions reports the collision.
 */
async function attachSnapshots(dir: string, migrations: Migration[], problems: Problem[]): Promise<(SnapshotFile & { file: string })[]> {
  const metaDir = join(dir, 'meta');
  const snapshots: (SnapshotFile & { file: string })[] = [];
  for (const name of (await readdir(metaDir)).filter((n) => n.endsWith('_snapshot.json')).sort()) {
    const file = join(metaDir, name);
    let snapshot: { id?: string; prevId?: string };
    try {
      snapshot = JSON.parse(await readFile(file, 'utf8')) as { id?: string; prevId?: string };
    } catch {
      problems.push({ code: 'MIGRATION_COLLISION', message: `${file} is not valid JSON (an unresolved merge conflict?)`, hint: 'Resolve the conflict, then run `jeex-db check`.' });
      continue;
    }
    if (!snapshot.id || !snapshot.prevId) continue;
    snapshots.push({ name, id: snapshot.id, prevId: snapshot.prevId, file });
    const owners = migrations.filter((m) => numberOf(m.tag) === numberOf(name));
    const [owner] = owners;
    if (owner && owners.length === 1) owner.snapshot = { id: snapshot.id, prevId: snapshot.prevId, file };
  }
  return snapshots;
}
