import { stripComments } from './sql-split.ts';
import type { Statement } from './statements.ts';

/**
 * Which indexes and constraints a migration's own SQL creates, so its down draft undoes only
 * those. The snapshots say what the schema has after the migration, not which file made it: when
 * the recommended split moves a generated `CREATE INDEX` into a migration of its own (as CREATE
 * INDEX CONCURRENTLY), the generated file's snapshot still has the index, and drizzle-kit's
 * reverse diff drops it there, where it is not created.
 */

/** One SQL identifier, "quoted" or plain. */
export const ident = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const createIndex = new RegExp(
  String.raw`^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(${ident})\s+ON\s+(?:ONLY\s+)?(?:(${ident})\s*\.\s*)?${ident}`,
  'i',
);
const dropIndex = new RegExp(String.raw`^\s*DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?:(${ident})\s*\.\s*)?(${ident})\s*(?:CASCADE|RESTRICT)?\s*;?\s*$`, 'i');
const dropConstraint = new RegExp(String.raw`^\s*ALTER\s+TABLE\s+[^;]*?\bDROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(${ident})\s*(?:CASCADE|RESTRICT)?\s*;?\s*$`, 'i');

/** An identifier as PostgreSQL stores it: "Quoted" kept, plain folded to lower case. */
export const unquote = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase());
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

export interface CreatedIndex {
  name: string;
  /** The table's schema when the statement names it (the index lives there). */
  schema?: string;
  concurrently: boolean;
}

/** The index a `CREATE [UNIQUE] INDEX [CONCURRENTLY]` statement builds. */
export function createdIndex(sql: string): CreatedIndex | undefined {
  const match = createIndex.exec(stripComments(sql));
  if (!match?.[3]) return undefined;
  return { name: unquote(match[3]), ...(match[4] ? { schema: unquote(match[4]) } : {}), concurrently: Boolean(match[2]) };
}

/** What a statement of a down draft removes: an index or a constraint, by name. */
export function droppedObject(sql: string): { kind: 'index' | 'constraint'; name: string } | undefined {
  const text = stripComments(sql);
  const index = dropIndex.exec(text);
  if (index?.[2]) return { kind: 'index', name: unquote(index[2]) };
  const constraint = dropConstraint.exec(text);
  if (constraint?.[1]) return { kind: 'constraint', name: unquote(constraint[1]) };
  return undefined;
}

/** Whether the statements create the index or constraint (inline `CONSTRAINT name` counts). */
export function creates(statements: Statement[], object: { kind: 'index' | 'constraint'; name: string }): boolean {
  if (object.kind === 'index') return statements.some((s) => createdIndex(s.sql)?.name === object.name);
  const named = new RegExp(String.raw`\bCONSTRAINT\s+(${ident})`, 'gi');
  return statements.some((s) => [...stripComments(s.sql).matchAll(named)].some((m) => unquote(m[1] ?? '') === object.name));
}

/** The other migration whose up file creates the object (where the split moved it), if any. */
export function creatorOf(migrations: { tag: string; up: { statements: Statement[] } }[], except: string, object: { kind: 'index' | 'constraint'; name: string }): string | undefined {
  return migrations.find((m) => m.tag !== except && creates(m.up.statements, object))?.tag;
}

/** `DROP INDEX [CONCURRENTLY] IF EXISTS "schema"."name";`: the undo of a CREATE INDEX, in the same transaction mode. */
export function dropIndexSql(index: CreatedIndex): string {
  return `DROP INDEX ${index.concurrently ? 'CONCURRENTLY ' : ''}IF EXISTS ${index.schema ? `${quote(index.schema)}.` : ''}${quote(index.name)};`;
}

/**
 * When the up file builds its indexes CONCURRENTLY and the draft only drops indexes, drop them
 * CONCURRENTLY too: the same transaction mode, and no ACCESS EXCLUSIVE lock on the table.
 */
export function concurrentDrops(draft: string[], up: Statement[]): string[] {
  const built = up.map((s) => createdIndex(s.sql)).filter((i): i is CreatedIndex => i?.concurrently === true);
  const rewritten = draft.map((statement) => {
    const object = droppedObject(statement);
    const index = object?.kind === 'index' ? built.find((b) => b.name === object.name) : undefined;
    return index ? dropIndexSql(index) : undefined;
  });
  return draft.length > 0 && rewritten.every((r) => r !== undefined) ? (rewritten) : draft;
}
