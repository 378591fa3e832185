import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { JeexDbError } from '../core/errors.ts';
import { normalizeStatement, numberOf } from './merge-conflicts.ts';
import { emptySnapshot, ORIGIN_ID, renameCandidates, sameSchema, type DrizzleSnapshot } from './snapshot-diff.ts';
import type { Migration, MigrationSource } from './source.ts';

export type GenerateMigration = (prev: DrizzleSnapshot, cur: DrizzleSnapshot) => Promise<string[]>;

export interface LoadedSnapshot {
  file: string;
  name: string;
  json: DrizzleSnapshot;
}

/** What `rebase` builds on: the newest snapshot of the other migrations, and the rebased one's own. */
export interface RebaseSnapshots {
  /** The snapshot the rebased migration is generated from. */
  base: DrizzleSnapshot;
  /** The rebased migration's own snapshot and its parent, when it has one. */
  own?: { snapshot: LoadedSnapshot; parent: DrizzleSnapshot };
  /**
   * The merge kept the rebased migration's snapshot under a number it shares with another
   * migration, whose own snapshot was lost: rebuilt (its parent plus what the schema has that the
   * kept snapshot lacks) and written back under that number.
   */
  rebuilt?: { file: string; json: DrizzleSnapshot; owner: string };
}

async function readAll(source: MigrationSource): Promise<LoadedSnapshot[]> {
  return Promise.all(source.snapshots.map(async (s) => ({ file: s.file, name: s.name, json: JSON.parse(await readFile(s.file, 'utf8')) as DrizzleSnapshot })));
}

function parentOf(snapshot: DrizzleSnapshot, all: LoadedSnapshot[]): DrizzleSnapshot {
  if (snapshot.prevId === ORIGIN_ID) return emptySnapshot(snapshot);
  const parent = all.find((s) => s.json.id === snapshot.prevId);
  if (!parent) {
    throw new JeexDbError('MIGRATION_FILE_MISSING', `no snapshot has id ${snapshot.prevId}, the parent of ${snapshot.id}`, {
      hint: 'Restore the parent snapshot from version control (the chain of prevId must be unbroken). Nothing was changed.',
    });
  }
  return parent.json;
}

const statementSet = (statements: string[]) => new Set(statements.map(normalizeStatement).filter(Boolean));
const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((s) => b.has(s));

/**
 * Whose is a snapshot file that two migrations' numbers both name? The one whose statements are
 * what drizzle-kit generates from the snapshot's parent to it. A custom migration (snapshot equal
 * to its parent) cannot be told apart: it is given to the other migration.
 */
async function ownedBy(snapshot: LoadedSnapshot, migration: Migration, all: LoadedSnapshot[], generate: GenerateMigration): Promise<boolean> {
  const parent = parentOf(snapshot.json, all);
  if (sameSchema(parent, snapshot.json) || renameCandidates(parent, snapshot.json).length > 0) return false;
  const generated = statementSet(await generate(parent, snapshot.json));
  return sameSet(generated, statementSet(migration.up.statements.map((s) => s.sql)));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const same = (a: unknown, b: unknown) => isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)) as unknown, JSON.parse(JSON.stringify(b ?? null)) as unknown);

/**
 * Three-way: `base` changed by what `current` has that `mine` does not. With base the common
 * parent, mine a branch's snapshot and current the merged schema, this is the other branch's
 * snapshot (the one the merge overwrote).
 */
export function theirs(base: unknown, mine: unknown, current: unknown): unknown {
  if (same(current, mine)) return base;
  if (isObject(base) && isObject(mine) && isObject(current)) {
    const out: Record<string, unknown> = {};
    for (const key of new Set([...Object.keys(base), ...Object.keys(mine), ...Object.keys(current)])) {
      const value = theirs(base[key], mine[key], current[key]);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
  return current;
}

/**
 * The snapshots `rebase` needs for `migration`: its own (if any), and the base to generate it
 * from, which is the newest snapshot of the other migrations in journal order.
 */
export async function rebaseSnapshots(source: MigrationSource, migration: Migration, current: () => DrizzleSnapshot, generate: GenerateMigration): Promise<RebaseSnapshots> {
  const all = await readAll(source);
  const number = numberOf(migration.tag);
  const sharing = source.migrations.filter((m) => m !== migration && numberOf(m.tag) === number);
  const file = all.find((s) => numberOf(s.name) === number);
  let own: RebaseSnapshots['own'];
  let rebuilt: RebaseSnapshots['rebuilt'];
  if (file && (sharing.length === 0 || (await ownedBy(file, migration, all, generate)))) {
    own = { snapshot: file, parent: parentOf(file.json, all) };
    const [other] = sharing;
    if (other) {
      // The other migration keeps the number; its snapshot is rebuilt from the merged schema.
      const json = { ...(theirs(own.parent, file.json, current()) as DrizzleSnapshot), id: randomUUID(), prevId: own.parent.id };
      rebuilt = { file: file.file, json, owner: other.tag };
    }
  }
  const others = source.migrations.filter((m) => m !== migration);
  let base: DrizzleSnapshot | undefined;
  for (const other of [...others].reverse()) {
    if (rebuilt?.owner === other.tag) base = rebuilt.json;
    else if (other.snapshot) base = all.find((s) => s.file === other.snapshot?.file)?.json;
    else if (numberOf(other.tag) === number && file && !own) base = file.json;
    if (base) break;
  }
  if (!base) {
    throw new JeexDbError('MIGRATION_FILE_MISSING', `no snapshot to rebase ${migration.tag} on: none of the other migrations has one in ${source.dir}/meta`, {
      hint: 'Restore the snapshots from version control (drizzle-kit writes one per migration). Nothing was changed.',
    });
  }
  return { base, ...(own ? { own } : {}), ...(rebuilt ? { rebuilt } : {}) };
}
