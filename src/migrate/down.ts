import { readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { JeexDbError } from '../core/errors.ts';
import { loadDrizzleKit } from './peers.ts';
import { concurrentDrops, createdIndex, creates, creatorOf, dropIndexSql, droppedObject } from './down-objects.ts';
import { loadMigrations, type Migration } from './source.ts';
import { stripComments } from './sql-split.ts';
import { BREAKPOINT } from './statements.ts';
import {
  emptySnapshot,
  enumValueLosses,
  ORIGIN_ID,
  renameCandidates,
  sameSchema,
  statementWarnings,
  type DrizzleSnapshot,
} from './snapshot-diff.ts';

export interface GenerateDownOptions {
  /** Replace an existing `.down.sql` (reviewed or not). Default: refuse. */
  overwrite?: boolean;
}

export interface GeneratedDown {
  /** The file written: `<migrationsDir>/NNNN_tag.down.sql`. */
  file: string;
  sql: string;
  /** Irreversible steps and everything else the reviewer must look at. */
  warnings: string[];
  /** Drizzle could not generate the undo (custom SQL or a possible rename): the draft is a TODO. */
  custom: boolean;
}

/** The marker `rollback` refuses: the file has not been reviewed yet. */
export const DRAFT_MARKER = '-- jeex:draft';

type GenerateMigration = (prev: DrizzleSnapshot, cur: DrizzleSnapshot) => Promise<string[]>;

async function readSnapshot(file: string): Promise<DrizzleSnapshot> {
  let snapshot: DrizzleSnapshot;
  try {
    snapshot = JSON.parse(await readFile(file, 'utf8')) as DrizzleSnapshot;
  } catch (error) {
    throw new JeexDbError('MIGRATION_FILE_MISSING', `cannot read the snapshot ${file}: ${(error as Error).message}`, {
      hint: 'Restore it from version control, or resolve the merge conflict in it.',
      cause: error,
    });
  }
  if (snapshot.dialect !== 'postgresql' || snapshot.version !== '7') {
    throw new JeexDbError('INVALID_CONFIG', `${file} is a ${snapshot.dialect} snapshot of version ${snapshot.version}; only PostgreSQL snapshots of version 7 can be diffed`, {
      hint: 'Upgrade old snapshots with `npx drizzle-kit up`.',
    });
  }
  return snapshot;
}

/** The migration's snapshot and its parent (the empty schema for the first migration), found by prevId. */
async function snapshotPair(dir: string, migration: Migration): Promise<{ cur: DrizzleSnapshot; prev: DrizzleSnapshot; prevName: string }> {
  if (!migration.snapshot) {
    throw new JeexDbError('MIGRATION_FILE_MISSING', `${migration.tag} has no snapshot (${join(dir, 'meta', `${migration.tag.split('_')[0] ?? ''}_snapshot.json`)})`, {
      hint: 'drizzle-kit writes one per migration; restore it from version control, or write the .down.sql file by hand.',
    });
  }
  const cur = await readSnapshot(migration.snapshot.file);
  if (cur.prevId === ORIGIN_ID) return { cur, prev: emptySnapshot(cur), prevName: 'the empty schema' };
  const metaDir = join(dir, 'meta');
  for (const name of (await readdir(metaDir)).filter((n) => n.endsWith('_snapshot.json')).sort()) {
    const file = join(metaDir, name);
    if (file === migration.snapshot.file) continue;
    const candidate = await readSnapshot(file);
    if (candidate.id === cur.prevId) return { cur, prev: candidate, prevName: `meta/${name}` };
  }
  throw new JeexDbError('MIGRATION_FILE_MISSING', `no snapshot in ${metaDir} has id ${cur.prevId}, the parent of ${basename(migration.snapshot.file)}`, {
    hint: 'Restore the parent snapshot from version control (the chain of prevId must be unbroken), or write the .down.sql file by hand.',
  });
}

const normalise = (statement: string) => stripComments(statement).replace(/\s+/g, ' ').trim().replace(/;$/, '');
/** SQL shown inside a comment: every line commented, no breakpoint marker that would split the file. */
const commented = (text: string, indent = '') =>
  text
    .trimEnd()
    .replaceAll(BREAKPOINT, '-- > statement-breakpoint')
    .split('\n')
    .map((line) => `--${indent}${line ? ` ${line}` : ''}`)
    .join('\n');

function header(migration: Migration, dirName: string, source: string): string[] {
  return [
    DRAFT_MARKER,
    `-- Down migration for ${migration.tag} (${dirName}/${migration.tag}.sql), drafted by \`jeex-db migrate generate-down\``,
    `-- ${source}.`,
    '-- Review it before it is used: check every statement, especially those marked WARNING,',
    '-- complete any TODO, then delete the draft marker line at the top so `jeex-db rollback`',
    '-- accepts the file, and commit it.',
  ];
}

/** A draft that only lists the up statements: the author writes the undo. */
function todoDraft(migration: Migration, head: string[], why: string[], statements: { sql: string; line: number }[]): string {
  const lines = [...head, '--', ...why.map((w) => `-- ${w}`), '--'];
  if (statements.length === 0) lines.push('-- The up migration runs no statements.');
  else {
    lines.push(`-- The up migration runs these ${statements.length} statement(s); undo them newest first:`);
    statements.forEach((statement, i) => lines.push('--', `-- [${i + 1}/${statements.length}] line ${statement.line}:`, commented(statement.sql, '  ')));
  }
  lines.push('--', `-- TODO: write the statements that undo ${migration.tag} here, separated by statement-breakpoint lines as drizzle-kit does.`);
  return `${lines.join('\n')}\n`;
}

/**
 * Draft `NNNN_tag.down.sql` for a migration: drizzle-kit's `generateMigration` diffs the
 * migration's snapshot against its parent in reverse (for the first migration, against the empty
 * schema). Steps that lose data or cannot be undone get a `-- WARNING: irreversible: ...` line
 * above them. A custom migration (snapshot equal to its parent) or a diff drizzle-kit would only
 * resolve interactively (a possible rename) gets a TODO draft listing the up statements. The
 * file starts with `-- jeex:draft`, which `rollback` refuses until a person has reviewed the file
 * and deleted that line. An existing `.down.sql` is kept unless `overwrite`.
 *
 * @example
 * const { file, warnings } = await generateDown('drizzle', '0003_add_nickname');
 * // review `file`, delete its "-- jeex:draft" line, commit it
 */
export async function generateDown(migrationsDir: string, name: string, options: GenerateDownOptions = {}): Promise<GeneratedDown> {
  const source = await loadMigrations(migrationsDir);
  const migration = source.migrations.find((m) => m.tag === name) ?? source.migrations.find((m) => m.tag.split('_')[0] === name);
  if (!migration) {
    throw new JeexDbError('INVALID_CONFIG', `no migration named ${name} in ${migrationsDir}`, {
      hint: `Known migrations: ${source.migrations.map((m) => m.tag).join(', ') || 'none'}.`,
    });
  }
  const file = join(migrationsDir, `${migration.tag}.down.sql`);
  if (migration.down && !options.overwrite) {
    throw new JeexDbError('INVALID_CONFIG', `${migration.down.displayPath} already exists${migration.down.draft ? ' (an unreviewed draft)' : ''}; it was not changed`, {
      hint: 'Edit it by hand, or draft it again over it with --force (overwrite), which discards any review done in it.',
    });
  }

  const { cur, prev, prevName } = await snapshotPair(migrationsDir, migration);
  const dirName = basename(migrationsDir);
  const upStatements = migration.up.statements;
  let sql: string;
  let custom = false;
  const warnings: string[] = [];

  const candidates = sameSchema(cur, prev) ? [] : renameCandidates(cur, prev);
  if (sameSchema(cur, prev)) {
    // Indexes it builds (the CREATE INDEX CONCURRENTLY a split moved here) are undone in the same
    // transaction mode, newest first; anything else stays a TODO.
    const drops = [...upStatements].reverse().flatMap((statement) => {
      const index = createdIndex(statement.sql);
      return index ? [dropIndexSql(index)] : [];
    });
    const rest = upStatements.filter((statement) => !createdIndex(statement.sql));
    const head = header(migration, dirName, `Its snapshot equals ${prevName}, so Drizzle cannot model this SQL`);
    if (rest.length === 0 && drops.length > 0) {
      head.push('--', `-- It builds ${drops.length} index(es); dropping them undoes it (IF EXISTS: a build that failed left none).`);
      sql = `${head.join('\n')}\n\n${drops.join(`${BREAKPOINT}\n`)}\n`;
    } else {
      custom = true;
      warnings.push(`${migration.tag} is custom SQL that Drizzle cannot model (its snapshot equals ${prevName}): the draft lists its statements and leaves a TODO`);
      const todo = todoDraft(migration, head, [
        'This is a custom migration (`drizzle-kit generate --custom`): triggers, functions, grants or',
        'data changes that Drizzle does not track, so there is nothing to diff.',
        ...(drops.length > 0 ? ['The indexes it builds are dropped by the statements at the end; undo the rest by hand.'] : []),
      ], rest);
      sql = drops.length > 0 ? `${todo}\n${drops.join(`${BREAKPOINT}\n`)}\n` : todo;
    }
  } else if (candidates.length > 0) {
    custom = true;
    warnings.push(`drizzle-kit cannot diff ${migration.tag} without asking whether objects were renamed (${candidates.join('; ')}): the draft leaves a TODO`);
    sql = todoDraft(migration, header(migration, dirName, `Diffing ${basename(migration.snapshot?.file ?? '')} against ${prevName} needs answers drizzle-kit only asks interactively`), [
      'Objects disappear while others appear, which may be renames; write the undo by hand',
      '(for a rename: ALTER TABLE ... RENAME COLUMN new TO old, which keeps the data):',
      ...candidates.map((c) => `  ${c}`),
    ], upStatements);
  } else {
    const api = await loadDrizzleKit(`drafting ${migration.tag}.down.sql (jeex-db migrate generate-down)`, { otherwise: 'Or write the .down.sql file by hand.' });
    const generateMigration = api.generateMigration as unknown as GenerateMigration;
    const reverse = await generateMigration(cur, prev);
    // Drops of indexes and constraints this file does not create (moved to another migration by a split) are left out.
    const leftOut = reverse.flatMap((statement) => {
      const object = droppedObject(statement);
      return object && !creates(upStatements, object) ? [{ statement, object, creator: creatorOf(source.migrations, migration.tag, object) }] : [];
    });
    const statements = concurrentDrops(reverse.filter((statement) => !leftOut.some((l) => l.statement === statement)), upStatements);
    const forward = new Set((await generateMigration(prev, cur)).map(normalise));
    const handWritten = upStatements.filter((s) => !forward.has(normalise(s.sql)));
    const losses = enumValueLosses(cur, prev);
    const notes = statementWarnings(statements, losses);
    warnings.push(...notes.flat());
    if (statements.length === 0) warnings.push(...losses.map((l) => `enum values cannot be removed: "${l.schema}"."${l.name}" keeps ${l.values.join(', ')}`));
    const head = header(migration, dirName, `Generated by drizzle-kit from meta/${basename(migration.snapshot?.file ?? '')} diffed in reverse against ${prevName}`);
    for (const { statement, object, creator } of leftOut) {
      const where = creator ? `${creator} creates it; its own down file drops it` : 'no migration in the folder creates it: check the snapshot';
      warnings.push(`left out \`${statement.trim()}\`: ${migration.tag}.sql does not create ${object.kind} ${object.name} (${where})`);
    }
    if (leftOut.length > 0) {
      head.push('--', `-- Left out: the snapshot has these objects, but ${migration.tag}.sql does not create them (a split moved them):`);
      for (const { statement, creator } of leftOut) head.push(`--   ${statement.trim()}${creator ? ` (created by ${creator}, whose down file drops it)` : ''}`);
    }
    if (handWritten.length > 0) {
      warnings.push(`${handWritten.length} statement(s) of ${migration.tag}.sql were not generated by drizzle-kit from the snapshots (hand-written?): undo them by hand (TODO in the draft)`);
      head.push('--', '-- These statements of the up migration do not come from the snapshots (written by hand, or by', '-- another drizzle-kit version); undo them by hand above the generated statements:');
      for (const statement of handWritten) head.push('--', `-- line ${statement.line}:`, commented(statement.sql, '  '));
      head.push('-- TODO: undo the statements above, or delete this block if the generated statements already do.');
    }
    const body = statements.map((statement, i) => [...(notes[i] ?? []).map((note) => `-- WARNING: ${note}`), statement].join('\n'));
    sql = `${head.join('\n')}\n\n${body.join(`${BREAKPOINT}\n`).trimEnd()}\n`;
  }

  try {
    await writeFile(file, sql, { flag: options.overwrite ? 'w' : 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new JeexDbError('INVALID_CONFIG', `${file} appeared while the draft was generated; it was not changed`, { hint: 'Run again with overwrite (--force) to replace it.', cause: error });
    }
    throw error;
  }
  return { file, sql, warnings, custom };
}
