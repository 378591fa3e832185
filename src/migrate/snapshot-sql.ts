import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { JeexDbError } from '../core/errors.ts';
import { drizzleKitApiFile } from './peers.ts';
import type { Problem } from './problems.ts';
import { emptySnapshot, ORIGIN_ID, sameSchema, type DrizzleSnapshot } from './snapshot-diff.ts';
import type { Migration, MigrationSource } from './source.ts';
import { maskLiterals, splitSql, stripComments } from './sql-split.ts';

const NEEDED_FOR = 'comparing each generated migration with its snapshot (jeex-db check)';

type Diff = { statements: string[] } | { error: string };

/**
 * drizzle-kit's `generateMigration` for several snapshot pairs, in one worker thread: where it
 * cannot tell a rename from a drop and a create it prompts, which a library must never do; a
 * worker has no terminal, so that pair is rejected instead (and left unchecked).
 */
function diffPairs(pairs: { prev: DrizzleSnapshot; cur: DrizzleSnapshot }[]): Promise<Diff[]> {
  const api = drizzleKitApiFile(NEEDED_FOR);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { generateMigration } = require(workerData.api);
    (async () => {
      const out = [];
      for (const { prev, cur } of workerData.pairs) {
        try { out.push({ statements: await generateMigration(prev, cur) }); }
        catch (error) { out.push({ error: String((error && error.message) || error) }); }
      }
      parentPort.postMessage(out);
    })();`;
  return new Promise((resolvePromise, reject) => {
    // stdout/stderr: true keeps drizzle-kit's own printing out of ours (`--json` prints one document).
    const worker = new Worker(code, { eval: true, workerData: { api, pairs }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    worker.once('message', (diffs: Diff[]) => {
      void worker.terminate();
      resolvePromise(diffs);
    });
    // A worker that ends without answering (killed, out of memory) must not leave check waiting.
    worker.once('exit', (code) => reject(new JeexDbError('INVALID_CONFIG', `drizzle-kit's diff ended without an answer (exit ${code})`, { hint: 'Run `npm run db:generate` to see what drizzle-kit makes of it.' })));
    worker.once('error', (error) => reject(new JeexDbError('INVALID_CONFIG', `drizzle-kit's diff failed: ${error.message}`, { hint: 'Run `npm run db:generate` to see what drizzle-kit makes of it.', cause: error })));
  });
}

/**
 * A statement reduced to what matters for "is this the statement drizzle-kit wrote": comments,
 * quotes around identifiers, case, spacing and the trailing semicolon go, and so do the words the
 * recommended edits add (CONCURRENTLY, IF [NOT] EXISTS, the default `USING btree`, NOT VALID).
 * 'Strings' and $$dollar quotes$$ stay as written.
 */
export function normaliseStatement(sql: string): string {
  // Only the code is rewritten: a changed 'default' or $$body$$ is a changed statement.
  const { masked, restore } = maskLiterals(stripComments(sql));
  const normalised = masked
    .replace(/"((?:[^"]|"")*)"/g, (_, name: string) => name.replaceAll('""', '"'))
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/\b(index) concurrently\b/g, '$1')
    .replace(/\bif (not )?exists\b/g, '')
    .replace(/\busing btree\b/g, '')
    .replace(/\bnot valid\b/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([(),;])\s*/g, '$1')
    .replace(/[\s;]+$/, '')
    .trim();
  return restore(normalised);
}

async function readSnapshot(file: string): Promise<DrizzleSnapshot | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DrizzleSnapshot;
  } catch {
    return undefined; // an unreadable snapshot is already a problem of its own (source.ts)
  }
}

/**
 * For every generated migration (its snapshot differs from its parent's), the statements
 * drizzle-kit generates from the parent to its snapshot must each be in that migration or a later
 * one (the recommended split moves CREATE INDEX CONCURRENTLY to a custom migration after it). A
 * missing one means the .sql was edited so it no longer makes what its snapshot records: the
 * next `drizzle-kit generate` would then diff against a schema no database has. Custom
 * migrations (snapshot equal to its parent) are skipped: their SQL is the author's.
 */
export async function snapshotSqlProblems(source: MigrationSource): Promise<Problem[]> {
  const snapshots = new Map<string, DrizzleSnapshot>();
  for (const migration of source.migrations) {
    if (!migration.snapshot) continue;
    const snapshot = await readSnapshot(migration.snapshot.file);
    if (snapshot) snapshots.set(migration.snapshot.id, snapshot);
  }
  const checked: { migration: Migration; index: number }[] = [];
  const pairs: { prev: DrizzleSnapshot; cur: DrizzleSnapshot }[] = [];
  source.migrations.forEach((migration, index) => {
    const cur = migration.snapshot ? snapshots.get(migration.snapshot.id) : undefined;
    if (!cur || cur.dialect !== 'postgresql') return;
    const prev = cur.prevId === ORIGIN_ID ? emptySnapshot(cur) : snapshots.get(cur.prevId);
    if (!prev || sameSchema(prev, cur)) return;
    checked.push({ migration, index });
    pairs.push({ prev, cur });
  });
  if (pairs.length === 0) return [];
  const diffs = await diffPairs(pairs);

  const normalisedFrom = (index: number) =>
    source.migrations.slice(index).flatMap((m) => m.up.statements.flatMap((s) => splitSql(s.sql).map((p) => ({ tag: m.tag, sql: normaliseStatement(p.sql) }))));
  const problems: Problem[] = [];
  checked.forEach(({ migration, index }, i) => {
    const diff = diffs[i];
    if (!diff || 'error' in diff) return; // a rename drizzle-kit would ask about: nothing to compare with
    const present = normalisedFrom(index);
    const missing = diff.statements.filter((statement) => {
      const wanted = normaliseStatement(statement);
      return wanted !== '' && !present.some((p) => p.sql === wanted || p.sql.startsWith(`${wanted} `));
    });
    if (missing.length === 0) return;
    const snapshotName = migration.snapshot?.file.split(/[\\/]/).at(-1) ?? 'its snapshot';
    problems.push({
      code: 'MIGRATION_SQL_SNAPSHOT_MISMATCH',
      migration: migration.tag,
      message:
        `${migration.up.displayPath} does not make what its snapshot (meta/${snapshotName}) records: ${missing.length} statement(s) drizzle-kit generates for it ` +
        `are neither in it nor in a later migration:\n${missing.map((s) => `  ${s.trim()}`).join('\n')}`,
      hint:
        `Put the statement(s) back into ${migration.up.displayPath} (a CREATE INDEX may move, as CREATE INDEX CONCURRENTLY, into a later custom migration), ` +
        'or, if the migration is not applied anywhere, delete it with its snapshot and journal entry and run `npm run db:generate` again. ' +
        'Leaving it would make every later `drizzle-kit generate` diff against a schema no database has.',
    });
  });
  return problems;
}
