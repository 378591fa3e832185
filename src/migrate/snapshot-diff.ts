import { isDeepStrictEqual } from 'node:util';

/** The parent of a first snapshot (drizzle-kit's `originUUID`). */
export const ORIGIN_ID = '00000000-0000-0000-0000-000000000000';

interface SnapshotTable {
  name: string;
  schema: string;
  columns: Record<string, unknown>;
  policies?: Record<string, unknown>;
}

/** A drizzle-kit PostgreSQL snapshot (`drizzle/meta/NNNN_snapshot.json`), the parts read here. */
export interface DrizzleSnapshot {
  id: string;
  prevId: string;
  version: string;
  dialect: string;
  tables: Record<string, SnapshotTable>;
  enums: Record<string, { name: string; schema: string; values: string[] }>;
  schemas: Record<string, string>;
  sequences?: Record<string, unknown>;
  roles?: Record<string, unknown>;
  policies?: Record<string, unknown>;
  views?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The schema before the first migration: what drizzle-kit diffs the first snapshot against. */
export function emptySnapshot(like: Pick<DrizzleSnapshot, 'version' | 'dialect'>): DrizzleSnapshot {
  return {
    id: ORIGIN_ID,
    prevId: ORIGIN_ID,
    version: like.version,
    dialect: like.dialect,
    tables: {},
    enums: {},
    schemas: {},
    sequences: {},
    roles: {},
    policies: {},
    views: {},
    _meta: { columns: {}, schemas: {}, tables: {} },
  };
}

/** The schema part only: ids, parent and `_meta` (renames chosen at generation) left out. */
function schemaOf(snapshot: DrizzleSnapshot): Record<string, unknown> {
  const { id: _id, prevId: _prevId, _meta, ...rest } = snapshot;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/**
 * Whether two snapshots describe the same schema. drizzle-kit writes the same schema with keys in
 * different orders, so this compares values, not text. Equal snapshots around a migration mean
 * its SQL is custom (`drizzle-kit generate --custom`).
 */
export function sameSchema(a: DrizzleSnapshot, b: DrizzleSnapshot): boolean {
  return isDeepStrictEqual(schemaOf(a), schemaOf(b));
}

const keys = (record: Record<string, unknown> | undefined) => new Set(Object.keys(record ?? {}));
const minus = (a: Set<string>, b: Set<string>) => [...a].filter((k) => !b.has(k));

/**
 * What drizzle-kit would ask about interactively when diffing `from` into `to`: in any one kind
 * of object (schemas, enums, sequences, roles, tables, views, policies, a table's columns), some
 * disappear while others appear, which may be renames. Its API has no way to answer, so a
 * caller must not call `generateMigration` when this is not empty (it would wait on stdin).
 */
export function renameCandidates(from: DrizzleSnapshot, to: DrizzleSnapshot): string[] {
  const found: string[] = [];
  const check = (kind: string, before: Set<string>, after: Set<string>) => {
    const gone = minus(before, after);
    const added = minus(after, before);
    if (gone.length > 0 && added.length > 0) found.push(`${kind}: ${gone.join(', ')} go, ${added.join(', ')} appear`);
  };
  for (const kind of ['schemas', 'enums', 'sequences', 'roles', 'tables', 'views', 'policies'] as const) {
    check(kind, keys(from[kind]), keys(to[kind]));
  }
  for (const [key, table] of Object.entries(from.tables)) {
    const other = to.tables[key];
    if (!other) continue;
    check(`columns of ${key}`, keys(table.columns), keys(other.columns));
    check(`policies of ${key}`, keys(table.policies), keys(other.policies));
  }
  return found;
}

export interface EnumLoss {
  schema: string;
  name: string;
  /** Values the enum has in `from` and not in `to`. */
  values: string[];
}

/** Enums whose values the diff `from` -> `to` would remove (PostgreSQL cannot drop an enum value). */
export function enumValueLosses(from: DrizzleSnapshot, to: DrizzleSnapshot): EnumLoss[] {
  const losses: EnumLoss[] = [];
  for (const [key, before] of Object.entries(from.enums)) {
    const after = to.enums[key];
    if (!after) continue;
    const values = before.values.filter((v) => !after.values.includes(v));
    if (values.length > 0) losses.push({ schema: before.schema || 'public', name: before.name, values });
  }
  return losses;
}

const ident = String.raw`(?:"[^"]+"\.)?"[^"]+"`;
const dropTable = new RegExp(String.raw`^DROP TABLE\s+(${ident})`, 'i');
const dropColumn = new RegExp(String.raw`^ALTER TABLE\s+(${ident})\s+DROP COLUMN\s+("[^"]+")`, 'i');
const dropType = new RegExp(String.raw`^DROP TYPE\s+(${ident})`, 'i');
const createType = new RegExp(String.raw`^CREATE TYPE\s+(${ident})`, 'i');
const dropSequence = new RegExp(String.raw`^DROP SEQUENCE\s+(${ident})`, 'i');
const dropRole = /^DROP ROLE\s+("[^"]+")/i;
const setType = new RegExp(String.raw`^ALTER TABLE\s+(${ident})\s+ALTER COLUMN\s+("[^"]+")\s+SET DATA TYPE\s+([^;]+?)(?:\s+USING\b[^;]*)?;`, 'i');

/**
 * The warning comments (without `-- WARNING: `) to put above each statement drizzle-kit
 * generated for a down migration: steps that lose data or cannot be undone.
 */
export function statementWarnings(statements: string[], losses: EnumLoss[]): string[][] {
  const created = new Set(statements.map((s) => createType.exec(s.trim())?.[1]).filter(Boolean));
  const notes = statements.map((raw) => {
    const statement = raw.trim();
    const out: string[] = [];
    let match: RegExpExecArray | null;
    if ((match = dropTable.exec(statement))) out.push(`irreversible: dropping table ${match[1]} loses every row in it`);
    else if ((match = dropColumn.exec(statement))) out.push(`irreversible: dropping column ${match[2]} of ${match[1]} loses its data`);
    else if ((match = dropType.exec(statement)) && !created.has(match[1])) {
      out.push(`irreversible: dropping type ${match[1]} removes it and its values; anything still using it must be dropped first`);
    } else if ((match = dropSequence.exec(statement))) out.push(`irreversible: dropping sequence ${match[1]} loses its current value`);
    else if ((match = dropRole.exec(statement))) out.push(`irreversible: dropping role ${match[1]} loses its grants and memberships`);
    else if ((match = setType.exec(statement)) && !/^text$/i.test(match[3] ?? '')) {
      out.push(`may fail or lose data: changing ${match[2]} of ${match[1]} to ${match[3]} fails, or truncates, for values the newer type allowed`);
    }
    return out;
  });
  for (const loss of losses) {
    const qualified = `"${loss.schema}"."${loss.name}"`;
    const at = Math.max(
      0,
      statements.findIndex((s) => s.trim().startsWith(`DROP TYPE ${qualified}`) || s.includes(qualified)),
    );
    notes[at]?.unshift(
      `irreversible: enum values cannot be removed: ${qualified} would lose ${loss.values.map((v) => `'${v}'`).join(', ')}. ` +
        'drizzle-kit recreates the type, which fails while any row holds one of them (and rewrites every table using it); consider leaving the values in place',
    );
  }
  return notes;
}
