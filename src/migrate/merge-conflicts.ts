import type { CollisionKind, MergeCollision, Problem } from './problems.ts';
import { createdIndex, droppedObject, ident, unquote } from './down-objects.ts';
import { stripComments } from './sql-split.ts';

/**
 * What two branches leave behind when each ran `drizzle-kit generate` from the same parent and
 * the merge kept both: the same journal idx twice, the same number prefix twice, two snapshots
 * with one parent, a migration whose snapshot was overwritten by the other's (same file name),
 * and, after the `npm run db:generate` that the drift seems to ask for, a migration that repeats
 * the other branch's change. Found from the files alone (no database, no drizzle-kit), so `check`
 * fails before any deploy; each group of colliding migrations is one problem with one recipe.
 *
 * The shapes below are the parts of `Migration` / `MigrationSource` (source.ts) read here,
 * declared structurally so source.ts can call this without an import cycle.
 */
export interface CollisionMigration {
  idx: number;
  tag: string;
  when: number;
  up: { displayPath: string; statements: { sql: string }[] };
  down?: { displayPath: string };
}

export interface SnapshotFile {
  /** `0005_snapshot.json` */
  name: string;
  id: string;
  prevId: string;
}

export interface CollisionInput {
  dir: string;
  migrations: CollisionMigration[];
  snapshots: SnapshotFile[];
  /** The up `.sql` files in the folder (names), in the journal or not. */
  sqlFiles: string[];
}

export interface DetectedCollision extends MergeCollision {
  /** One sentence per thing found, e.g. "journal idx 5 is used by 0005_x and 0005_y". */
  facts: string[];
}

/** `0005` of `0005_add_nickname`. */
export const numberOf = (tag: string): string => /^(\d+)_/.exec(tag)?.[1] ?? tag;

/** A statement as compared across migrations: comments and spacing dropped, no trailing `;`. */
export const normalizeStatement = (sql: string): string => stripComments(sql).replace(/\s+/g, ' ').trim().replace(/;$/, '');

/**
 * A schema change that must happen once: CREATE / ALTER / DROP / COMMENT ON, except the idempotent
 * forms (OR REPLACE, IF [NOT] EXISTS) that migrations legitimately repeat.
 */
const isSchemaChange = (normalized: string) => /^(CREATE|ALTER|DROP|COMMENT ON)\s/i.test(normalized) && !/\bOR REPLACE\b|\bIF (NOT )?EXISTS\b/i.test(normalized);

interface Link {
  kind: CollisionKind;
  members: string[];
  fact: string;
}

/** Every collision among the migrations, grouped: the migrations linked by any of them form one group. */
export function detectCollisions(input: CollisionInput): DetectedCollision[] {
  const journalTags = new Set(input.migrations.map((m) => m.tag));
  const links: Link[] = [];

  const byIdx = groupBy(input.migrations, (m) => String(m.idx));
  for (const [idx, group] of byIdx) {
    if (group.length > 1) links.push({ kind: 'duplicate-idx', members: group.map((m) => m.tag), fact: `journal idx ${idx} is used by ${list(group.map((m) => m.tag))}` });
  }

  // A file outside the journal is MIGRATION_NOT_IN_JOURNAL already; it is named here only beside
  // two journal entries that share its number.
  const names = [...new Set([...journalTags, ...input.sqlFiles.map((f) => f.replace(/\.sql$/, ''))])];
  for (const [number, group] of groupBy(names, numberOf)) {
    if (group.filter((tag) => journalTags.has(tag)).length < 2) continue;
    const shown = group.map((tag) => (journalTags.has(tag) ? `${tag}.sql` : `${tag}.sql (not in the journal)`));
    links.push({ kind: 'duplicate-number', members: group, fact: `the number ${number} is used by ${list(shown)}` });
    const inJournal = group.filter((tag) => journalTags.has(tag));
    if (inJournal.length > 1 && input.snapshots.some((s) => s.name === `${number}_snapshot.json`)) {
      links.push({
        kind: 'no-own-snapshot',
        members: inJournal,
        fact: `meta/${number}_snapshot.json can be the snapshot of only one of ${list(inJournal)}: the other's was replaced in the merge (same file name)`,
      });
    }
  }

  const ids = new Map(input.snapshots.map((s) => [s.id, s.name]));
  for (const [parent, group] of groupBy(input.snapshots, (s) => s.prevId)) {
    if (group.length < 2) continue;
    const owners = group.flatMap((s) => input.migrations.filter((m) => numberOf(m.tag) === numberOf(s.name)).map((m) => m.tag));
    const shown = group.map((s) => {
      const own = input.migrations.filter((m) => numberOf(m.tag) === numberOf(s.name)).map((m) => m.tag);
      return `meta/${s.name}${own.length ? ` (${own.join(' or ')})` : ''}`;
    });
    links.push({
      kind: 'same-parent',
      members: owners.length ? owners : group.map((s) => s.name),
      fact: `${list(shown)} were generated from the same parent snapshot (${ids.has(parent) ? `meta/${ids.get(parent) ?? ''}` : parent}): two branches each generated a migration`,
    });
  }

  const collisions = groupLinks(links).map((group): DetectedCollision => {
    const members = order(input, group.members);
    const candidates = input.migrations.filter((m) => members.includes(m.tag));
    const rebase = later(candidates)?.tag;
    return { kinds: [...new Set(group.kinds)], migrations: members, facts: group.facts, ...(rebase ? { rebase } : {}) };
  });
  return [...collisions, ...repeatedChanges(input)];
}

/** A name, schema-qualified or not; the capture is the last part. */
const NAME = String.raw`(?:${ident}\s*\.\s*)?(${ident})`;

/** What a statement creates, as `column users.nickname`, `index users_email_idx`, ...; and the table it is on. */
function createdObject(statement: string): { key: string; table?: string } | undefined {
  const index = createdIndex(statement);
  if (index) {
    const on = new RegExp(String.raw`\sON\s+(?:ONLY\s+)?${NAME}`, 'i').exec(statement)?.[1];
    return { key: `index ${index.name}`, ...(on ? { table: unquote(on) } : {}) };
  }
  let m = new RegExp(String.raw`^ALTER\s+TABLE\s+(?:ONLY\s+)?${NAME}\s+ADD\s+CONSTRAINT\s+(${ident})`, 'i').exec(statement);
  if (m?.[1] && m[2]) return { key: `constraint ${unquote(m[2])}`, table: unquote(m[1]) };
  m = new RegExp(String.raw`^ALTER\s+TABLE\s+(?:ONLY\s+)?${NAME}\s+ADD\s+(?:COLUMN\s+)?(${ident})`, 'i').exec(statement);
  if (m?.[1] && m[2]) return { key: `column ${unquote(m[1])}.${unquote(m[2])}`, table: unquote(m[1]) };
  m = new RegExp(String.raw`^CREATE\s+(TABLE|TYPE|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|SCHEMA)\s+${NAME}`, 'i').exec(statement);
  if (m?.[1] && m[2]) return { key: `${m[1].toLowerCase().replace(/\s+/g, ' ')} ${unquote(m[2])}` };
  return undefined;
}

/** What a statement drops, in `createdObject`'s terms (a dropped table takes its columns, constraints and indexes). */
function droppedObjects(statement: string): string[] {
  const object = droppedObject(statement);
  if (object) return [`${object.kind} ${object.name}`];
  const column = new RegExp(String.raw`^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?${NAME}\s+DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(${ident})`, 'i').exec(statement);
  if (column?.[1] && column[2] && !/^constraint$/i.test(column[2])) return [`column ${unquote(column[1])}.${unquote(column[2])}`];
  const m = /^DROP\s+(TABLE|TYPE|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|SCHEMA)\s+(?:IF\s+EXISTS\s+)?(.+?)(?:\s+CASCADE|\s+RESTRICT)?;?$/i.exec(statement);
  if (!m?.[1] || !m[2]) return [];
  const kind = m[1].toLowerCase().replace(/\s+/g, ' ');
  return [...m[2].matchAll(new RegExp(NAME, 'g'))].map((n) => `${kind} ${unquote(n[1] ?? '')}`);
}

/** Whether a migration between the two undid what `statement` makes, so making it again is no repeat (a column dropped, then added back). */
function undoneBetween(statement: string, between: Set<string>): boolean {
  const created = createdObject(statement);
  return Boolean(created && (between.has(created.key) || (created.table !== undefined && between.has(`table ${created.table}`))));
}

/** A migration whose schema changes another one already makes: the duplicate `db:generate` writes after a merge. */
function repeatedChanges(input: CollisionInput): DetectedCollision[] {
  const found: DetectedCollision[] = [];
  const changes = input.migrations.map((m) => new Set(m.up.statements.map((s) => normalizeStatement(s.sql)).filter(isSchemaChange)));
  const drops = input.migrations.map((m) => m.up.statements.flatMap((s) => droppedObjects(normalizeStatement(s.sql))));
  input.migrations.forEach((later, j) => {
    for (let i = 0; i < j; i++) {
      const earlier = input.migrations[i];
      const between = new Set(drops.slice(i + 1, j).flat());
      const repeated = [...(changes[j] ?? [])].filter((s) => changes[i]?.has(s) && !undoneBetween(s, between));
      if (!earlier || repeated.length === 0) continue;
      found.push({
        kinds: ['repeated-change'],
        migrations: [earlier.tag, later.tag],
        duplicate: later.tag,
        facts: [`${later.tag} repeats ${repeated.length} schema change(s) of ${earlier.tag} (${repeated.slice(0, 2).map((s) => `"${s.length > 80 ? `${s.slice(0, 77)}...` : s}"`).join(', ')}${repeated.length > 2 ? ', ...' : ''}), so it fails on every database that has ${earlier.tag}`],
      });
      break;
    }
  });
  return found;
}

/** Offline: the one to move is the later one by journal `when` (the journal's order breaks a tie). */
function later<T extends { when: number }>(migrations: T[]): T | undefined {
  return migrations.reduce<T | undefined>((best, m) => (!best || m.when >= best.when ? m : best), undefined);
}

export interface RecipeContext {
  dir: string;
  migrations: CollisionMigration[];
  /** With a database: the migrations applied to it (status, migrate). */
  appliedHere?: Set<string>;
}

/** The one to rebase: with a database, the later of those not applied there; else the later by `when`. */
export function rebaseTarget(collision: MergeCollision, context: RecipeContext): string | undefined {
  const members = context.migrations.filter((m) => collision.migrations.includes(m.tag));
  if (!context.appliedHere) return later(members)?.tag;
  const unapplied = members.filter((m) => !context.appliedHere?.has(m.tag));
  return later(unapplied)?.tag;
}

const files = (tag: string, context: RecipeContext) => {
  const migration = context.migrations.find((m) => m.tag === tag);
  const up = migration?.up.displayPath ?? `${context.dir}/${tag}.sql`;
  return { up, down: migration?.down?.displayPath ?? up.replace(/\.sql$/, '.down.sql'), hasDown: Boolean(migration?.down) };
};

/** The one recipe of a collision: which migration to move, with its .down.sql, and the exact command. */
export function collisionHint(collision: MergeCollision, context: RecipeContext): string {
  if (collision.duplicate) {
    const [original = ''] = collision.migrations;
    const { up, down, hasDown } = files(collision.duplicate, context);
    return (
      `Delete ${collision.duplicate}: ${up}${hasDown ? `, ${down}` : ''}, its snapshot (meta/${numberOf(collision.duplicate)}_snapshot.json) and its journal entry ` +
      `(it was written by \`npm run db:generate\` to cover a change ${original} already makes). Then run \`jeex-db check\`: if ${original} collides with another branch's migration, it names the one to rebase. ` +
      'Do not run `npm run db:generate` again.'
    );
  }
  const target = rebaseTarget(collision, context);
  const keep = collision.migrations.filter((tag) => tag !== target && context.migrations.some((m) => m.tag === tag));
  const notInJournal = collision.migrations.filter((tag) => !context.migrations.some((m) => m.tag === tag));
  const fixJournal = notInJournal.length ? `First add the journal entry of ${list(notInJournal)} back (any idx). ` : '';
  if (!target) {
    return (
      `${fixJournal}${list(keep)} ${keep.length > 1 ? 'are' : 'is'} all applied to this database, so none can be rebased from here: run \`jeex-db rebase NAME --url <database>\` against a database where ` +
      `one of them is not applied (\`jeex-db status --url <database>\` shows which), then \`jeex-db mark-applied <its new name>\` here (it moves this database's record to the new name; nothing runs). Do not run \`npm run db:generate\`.`
    );
  }
  const { up, down, hasDown } = files(target, context);
  const appliedKept = keep.filter((tag) => context.appliedHere?.has(tag));
  const why = !context.appliedHere
    ? `the later one by journal \`when\`; if it is already applied somewhere and ${list(keep)} ${keep.length > 1 ? 'are' : 'is'} not, rebase ${keep.length > 1 ? 'those' : 'that one'} instead: \`jeex-db status\` says which`
    : appliedKept.length
      ? `${list(appliedKept)} ${appliedKept.length > 1 ? 'are' : 'is'} applied to this database, ${target} is not`
      : `none of them is applied to this database; ${target} is the later one`;
  return (
    `${fixJournal}Keep ${list(keep)}; move ${target} on top with \`jeex-db rebase ${target}\` (${why}). ` +
    `It renumbers ${up}${hasDown ? ` and ${down}` : ''} after the newest migration and regenerates its SQL and snapshot from the schema` +
    `${hasDown ? `; ${down} is kept if the SQL comes out the same, else redrafted for review` : ''} (\`--dry-run\` shows it first). Then run \`jeex-db check\`. ` +
    'Not `npm run db:generate`: it would write a migration that repeats the change.'
  );
}

/** The problems of `detectCollisions`, with the offline recipe (status/migrate redo the hint with the database's view). */
export function collisionProblems(collisions: DetectedCollision[], context: RecipeContext): Problem[] {
  return collisions.map((collision) => {
    const { facts, ...details } = collision;
    return {
      code: 'MIGRATION_COLLISION',
      migration: collision.duplicate ?? collision.rebase ?? collision.migrations[0] ?? '',
      message: `migrations from two branches collide: ${facts.join('; ')}`,
      hint: collisionHint(details, context),
      collision: details,
    };
  });
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

/** Links sharing a migration merge into one group (union-find by member name). */
function groupLinks(links: Link[]): { members: string[]; kinds: CollisionKind[]; facts: string[] }[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    const p = parent.get(x) ?? x;
    if (p === x) return x;
    const root = find(p);
    parent.set(x, root);
    return root;
  };
  for (const link of links) for (const member of link.members.slice(1)) parent.set(find(member), find(link.members[0] ?? member));
  const groups = new Map<string, { members: Set<string>; kinds: CollisionKind[]; facts: string[] }>();
  for (const link of links) {
    const root = find(link.members[0] ?? '');
    const group = groups.get(root) ?? { members: new Set<string>(), kinds: [], facts: [] };
    for (const member of link.members) group.members.add(member);
    group.kinds.push(link.kind);
    group.facts.push(link.fact);
    groups.set(root, group);
  }
  return [...groups.values()].map((g) => ({ members: [...g.members], kinds: g.kinds, facts: g.facts }));
}

/** Journal order first, then the names outside the journal. */
function order(input: CollisionInput, members: string[]): string[] {
  const position = new Map(input.migrations.map((m, i) => [m.tag, i]));
  return [...members].sort((a, b) => (position.get(a) ?? Number.MAX_SAFE_INTEGER) - (position.get(b) ?? Number.MAX_SAFE_INTEGER) || a.localeCompare(b));
}

const list = (items: string[]) => (items.length <= 2 ? items.join(' and ') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`);
