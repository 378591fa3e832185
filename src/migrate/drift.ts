import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { JeexDbError } from '../core/errors.ts';
import { importTypeScript } from './load-typescript.ts';
import { drizzleKitApiFile, loadDrizzleKit } from './peers.ts';
import { sameSchema, type DrizzleSnapshot } from './snapshot-diff.ts';
import type { MigrationSource } from './source.ts';

export interface DriftResult {
  /** The SQL `drizzle-kit generate` would write now; empty when schema and migrations agree. */
  statements: string[];
  /** The snapshot compared with (the newest one). */
  snapshotFile: string;
  /**
   * drizzle-kit would have to ask whether something was renamed: `statements` then describes the
   * differences (as SQL comments) instead of the SQL.
   */
  ambiguous: boolean;
}

type Snapshot = Record<string, unknown> & { id?: string; prevId?: string };

const NEEDED_FOR = 'comparing the Drizzle schema with the migrations (jeex-db check)';

/** The schema module's exports: this package's schema by default, or the file given (check, rebase). */
export async function loadSchema(schemaModule: string | undefined): Promise<Record<string, unknown>> {
  if (!schemaModule) return await import('../schema/index.ts');
  const file = resolve(schemaModule);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && ['.ts', '.mts', '.cts'].includes(extname(file))) {
      return (await importTypeScript(file, 'the schema module')) as Record<string, unknown>;
    }
    throw new JeexDbError('INVALID_CONFIG', `cannot load the schema module ${file}: ${(error as Error).message}`, {
      hint: 'Pass the file that exports your Drizzle tables and enums (`schema` in drizzle.config.ts).',
      cause: error,
    });
  }
}

/** The newest snapshot: the one of the last journal entry that has one. */
function newestSnapshot(source: MigrationSource): string | undefined {
  return source.migrations.filter((m) => m.snapshot).at(-1)?.snapshot?.file;
}

/** Equal as JSON (a generated snapshot has undefined values where a written one has no key). */
const json = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const same = (a: unknown, b: unknown) => isDeepStrictEqual(json(a), json(b));

/**
 * drizzle-kit's diff, in a worker thread: where it cannot tell a rename from a drop and a create
 * it prompts on the terminal, which a library must never do. A worker has no terminal, so it
 * rejects instead, and we describe the differences ourselves.
 */
function diffInWorker(prev: Snapshot, cur: Snapshot): Promise<{ statements: string[] } | { needsPrompt: string }> {
  const api = drizzleKitApiFile(NEEDED_FOR);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    require(workerData.api).generateMigration(workerData.prev, workerData.cur).then(
      (statements) => parentPort.postMessage({ statements }),
      (error) => parentPort.postMessage({ error: String((error && error.message) || error) }));`;
  return new Promise((resolvePromise, reject) => {
    // stdout/stderr: true keeps drizzle-kit's own printing out of ours (`--json` prints one document).
    const worker = new Worker(code, { eval: true, workerData: { api, prev, cur }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    worker.once('message', (message: { statements?: string[]; error?: string }) => {
      void worker.terminate();
      if (message.statements) resolvePromise({ statements: message.statements });
      else if (/prompt|TTY/i.test(message.error ?? '')) resolvePromise({ needsPrompt: message.error ?? '' });
      else reject(new JeexDbError('INVALID_CONFIG', `drizzle-kit could not compare the schema with ${String(prev.id)}: ${message.error ?? 'no reason given'}`, { hint: 'Run `npm run db:generate` to see what drizzle-kit makes of it.' }));
    });
    worker.once('error', (error) => reject(new JeexDbError('INVALID_CONFIG', `drizzle-kit's diff failed: ${error.message}`, { hint: 'Run `npm run db:generate` to see what drizzle-kit makes of it.', cause: error })));
  });
}

/** Where two snapshots differ, as SQL comments, for when drizzle-kit would need to ask about renames. */
export function describeDifferences(prev: Snapshot, cur: Snapshot): string[] {
  const out: string[] = [];
  const record = (value: unknown) => (value && typeof value === 'object' ? (value as Record<string, unknown>) : {});
  for (const kind of ['schemas', 'enums', 'sequences', 'roles', 'policies', 'views', 'tables']) {
    const before = record(prev[kind]);
    const after = record(cur[kind]);
    const noun = kind.replace(/ies$/, 'y').replace(/s$/, '');
    for (const name of Object.keys(before).filter((n) => !(n in after))) out.push(`-- ${noun} ${name}: in the snapshot, not in the schema`);
    for (const name of Object.keys(after).filter((n) => !(n in before))) out.push(`-- ${noun} ${name}: in the schema, not in the snapshot`);
    for (const name of Object.keys(after).filter((n) => n in before && !same(before[n], after[n]))) {
      if (kind !== 'tables') {
        out.push(`-- ${noun} ${name}: differs`);
        continue;
      }
      const [oldTable, newTable] = [record(before[name]), record(after[name])];
      for (const part of Object.keys({ ...oldTable, ...newTable })) {
        if (same(oldTable[part], newTable[part])) continue;
        const [oldPart, newPart] = [record(oldTable[part]), record(newTable[part])];
        const item = part === 'columns' ? 'column' : part;
        const gone = Object.keys(oldPart).filter((k) => !(k in newPart));
        const added = Object.keys(newPart).filter((k) => !(k in oldPart));
        const changed = Object.keys(newPart).filter((k) => k in oldPart && !same(oldPart[k], newPart[k]));
        if (gone.length) out.push(`-- table ${name}: ${item} ${gone.join(', ')} in the snapshot, not in the schema`);
        if (added.length) out.push(`-- table ${name}: ${item} ${added.join(', ')} in the schema, not in the snapshot`);
        if (changed.length) out.push(`-- table ${name}: ${item} ${changed.join(', ')} differ`);
        if (!gone.length && !added.length && !changed.length) out.push(`-- table ${name}: ${part} differs`);
      }
    }
  }
  return out;
}

/**
 * Whether the Drizzle schema and the newest migration snapshot agree, i.e. whether
 * `drizzle-kit generate` would write a new migration, and which SQL it would contain.
 *
 * @example
 * const drift = await schemaDrift(await loadMigrations('drizzle'));
 * if (drift.statements.length > 0) console.log(drift.statements.join('\n'));
 */
export async function schemaDrift(source: MigrationSource, schemaModule?: string): Promise<DriftResult | undefined> {
  const snapshotFile = newestSnapshot(source);
  if (!snapshotFile) return undefined;
  const api = await loadDrizzleKit(NEEDED_FOR);
  const prev = JSON.parse(await readFile(snapshotFile, 'utf8')) as Snapshot;
  const cur = api.generateDrizzleJson(await loadSchema(schemaModule), prev.id) as unknown as Snapshot;
  if (sameSchema(prev as DrizzleSnapshot, cur as DrizzleSnapshot)) return { statements: [], snapshotFile, ambiguous: false };
  const diff = await diffInWorker(prev, cur);
  if ('statements' in diff) return { statements: diff.statements, snapshotFile, ambiguous: false };
  return { statements: describeDifferences(prev, cur), snapshotFile, ambiguous: true };
}
