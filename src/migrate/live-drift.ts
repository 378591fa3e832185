import type { CatalogObject, FingerprintKind } from './catalog.ts';

/**
 * Schemas whose objects the migrations do not make: the runners' ledgers (created by the runner
 * and `roles apply`) and `jeex_roles` (a superuser's, made by `roles apply`).
 */
export const NOT_MIGRATION_SCHEMAS = ['jeex_migrations', 'drizzle', 'jeex_roles'] as const;

/** Properties that are not the migrations' to decide: grants and owners (`jeex-db roles apply`), and a column's attnum. */
const IGNORED = new Set(['owner', 'acl', 'position']);

/** What a person calls each kind, in a difference's message. */
const NOUN: Record<FingerprintKind, string> = {
  schemas: 'schema',
  relations: 'table',
  columns: 'column',
  constraints: 'constraint',
  indexes: 'index',
  triggers: 'trigger',
  functions: 'function',
  types: 'type',
  sequences: 'sequence',
  policies: 'policy',
  extensions: 'extension',
};
const RELKIND: Record<string, string> = { r: 'table', p: 'table', v: 'view', m: 'materialized view', S: 'sequence', f: 'foreign table', c: 'composite type' };

/** One object where the database and the migrations disagree. */
export interface SchemaDifference {
  /** `column`, `index`, `table`, ... */
  object: string;
  /** `public.projects.owner_note`. */
  name: string;
  /** `extra`: in the database, not made by the migrations; `missing`: the reverse; `changed`: both, with other properties. */
  change: 'extra' | 'missing' | 'changed';
  /** For `changed`: each property that differs. */
  properties?: { property: string; expected: string; actual: string }[];
  /** One line, e.g. "column public.exports.size_bytes: type bigint by the migrations, integer in the database". */
  message: string;
}

/**
 * The objects the migrations own: not the ledgers' schemas, not extensions (the objects they
 * install are already left out by the catalog reader), not the internal triggers of foreign keys
 * (their constraint stands for them).
 */
export function migrationOwned(objects: CatalogObject[]): CatalogObject[] {
  const skipped = new Set<string>(NOT_MIGRATION_SCHEMAS);
  return objects.filter((o) => !skipped.has(o.schema) && o.kind !== 'extensions' && !(o.kind === 'triggers' && o.attributes.internal === 'true'));
}

/** Whether a database holds anything the migrations would make (beyond the empty `public` schema). */
export function hasMigrationObjects(objects: CatalogObject[]): boolean {
  return migrationOwned(objects).some((o) => !(o.kind === 'schemas' && o.name === 'public'));
}

const noun = (o: CatalogObject) => (o.kind === 'relations' ? (RELKIND[o.attributes.kind ?? ''] ?? 'relation') : NOUN[o.kind]);
const key = (o: CatalogObject) => `${o.kind} ${o.name}`;
const shown = (value: string) => (value === '' ? '(none)' : value.length > 120 ? `${value.slice(0, 117).replace(/\s+/g, ' ')}...` : value.replace(/\s+/g, ' '));

/**
 * Every difference between what the migrations make (`expected`) and the database (`actual`),
 * by object, for the objects the migrations own.
 *
 * @example
 * compareSchemas(reference, live)
 * // [{ object: 'column', name: 'public.projects.owner_note', change: 'extra',
 * //    message: 'column public.projects.owner_note: in the database, not made by the migrations' }]
 */
export function compareSchemas(expected: CatalogObject[], actual: CatalogObject[]): SchemaDifference[] {
  const want = new Map(migrationOwned(expected).map((o) => [key(o), o]));
  const have = new Map(migrationOwned(actual).map((o) => [key(o), o]));
  const differences: SchemaDifference[] = [];
  for (const [k, o] of have) {
    if (want.has(k)) continue;
    differences.push({ object: noun(o), name: o.name, change: 'extra', message: `${noun(o)} ${o.name}: in the database, not made by the migrations` });
  }
  for (const [k, o] of want) {
    const other = have.get(k);
    if (!other) {
      differences.push({ object: noun(o), name: o.name, change: 'missing', message: `${noun(o)} ${o.name}: made by the migrations, missing in the database` });
      continue;
    }
    const properties = Object.keys({ ...o.attributes, ...other.attributes })
      .filter((p) => !IGNORED.has(p) && (o.attributes[p] ?? '') !== (other.attributes[p] ?? ''))
      .map((p) => ({ property: p, expected: o.attributes[p] ?? '', actual: other.attributes[p] ?? '' }));
    if (properties.length === 0) continue;
    const parts = properties.map((p) => `${p.property} ${shown(p.expected)} by the migrations, ${shown(p.actual)} in the database`);
    differences.push({ object: noun(o), name: o.name, change: 'changed', properties, message: `${noun(o)} ${o.name}: ${parts.join('; ')}` });
  }
  return foldNotNull(collapse(differences, [...want.values(), ...have.values()]), [...want.values(), ...have.values()]).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.object < b.object ? -1 : 1));
}

/** The column a NOT NULL constraint (PostgreSQL 18 lists them in pg_constraint) is about: `NOT NULL name`. */
function notNullColumn(o: CatalogObject): string | undefined {
  if (o.kind !== 'constraints' || o.attributes.type !== 'n') return undefined;
  const match = /^NOT NULL ("(?:[^"]|"")+"|\S+)/.exec(o.attributes.definition ?? '');
  const column = match?.[1];
  if (!column) return undefined;
  const name = column.startsWith('"') ? column.slice(1, -1).replaceAll('""', '"') : column;
  return `${o.name.split('.').slice(0, 2).join('.')}.${name}`;
}

/**
 * A NOT NULL set or dropped by hand is one difference, the column's `notnull`, naming its
 * constraint: not also the NOT NULL constraint PostgreSQL 18 adds or removes with it.
 */
function foldNotNull(differences: SchemaDifference[], objects: CatalogObject[]): SchemaDifference[] {
  const constraints = new Map(objects.filter((o) => o.kind === 'constraints').map((o) => [o.name, o]));
  const notnullChanged = new Set(differences.filter((d) => d.object === 'column' && d.properties?.some((p) => p.property === 'notnull')).map((d) => d.name));
  const folded = new Map<string, string[]>();
  const kept = differences.filter((d) => {
    const o = d.object === 'constraint' && d.change !== 'changed' ? constraints.get(d.name) : undefined;
    const column = o ? notNullColumn(o) : undefined;
    if (!column || !notnullChanged.has(column)) return true;
    folded.set(column, [...(folded.get(column) ?? []), `${d.change === 'extra' ? 'its constraint' : 'the constraint'} ${d.name.split('.').at(-1) ?? d.name}${d.change === 'extra' ? ' added' : ' dropped'}`]);
    return false;
  });
  return kept.map((d) => (folded.has(d.name) && d.object === 'column' ? { ...d, message: `${d.message} (${(folded.get(d.name) ?? []).join(', ')})` } : d));
}

/** The table (`schema.table`) an object belongs to, for the kinds that belong to one. */
function parentTable(o: CatalogObject): string | undefined {
  if (['columns', 'constraints', 'triggers', 'policies'].includes(o.kind)) return o.name.split('.').slice(0, 2).join('.');
  if (o.kind === 'indexes') return `${o.schema}.${o.attributes.on ?? ''}`;
  if (o.kind === 'sequences' && o.attributes.owned_by) return `${o.schema}.${o.attributes.owned_by.split('.')[0] ?? ''}`;
  return undefined;
}

/**
 * A whole table or schema extra or missing is one difference, not one per column, constraint,
 * index and trigger in it ("with its columns, ..." is said once).
 */
function collapse(differences: SchemaDifference[], objects: CatalogObject[]): SchemaDifference[] {
  const whole = (kind: FingerprintKind) => new Set(differences.filter((d) => d.change !== 'changed' && objects.some((o) => o.kind === kind && o.name === d.name)).map((d) => d.name));
  const schemas = whole('schemas');
  const tables = whole('relations');
  const byName = new Map(objects.map((o) => [`${noun(o)} ${o.name}`, o]));
  return differences
    .filter((d) => {
      const o = byName.get(`${d.object} ${d.name}`);
      if (!o || d.change === 'changed') return true;
      if (o.kind !== 'schemas' && schemas.has(o.schema)) return false;
      const table = parentTable(o);
      return !(table && tables.has(table));
    })
    .map((d) => (schemas.has(d.name) || tables.has(d.name) ? { ...d, message: `${d.message} (with everything in it)` } : d));
}

/**
 * What the migrations make after a run, from what they made before it (`expected`), the
 * database before it (`before`) and after it (`after`): the database after the run, with each
 * difference it had before the run that the run left alone put back. A hand-made change must
 * not become "expected" because a migration ran on top of it.
 */
export function carryDrift(expected: CatalogObject[], before: CatalogObject[], after: CatalogObject[]): CatalogObject[] {
  const want = new Map(expected.map((o) => [key(o), o]));
  const had = new Map(before.map((o) => [key(o), o]));
  const now = new Map(after.map((o) => [key(o), o]));
  const same = (a: CatalogObject | undefined, b: CatalogObject | undefined) => JSON.stringify(a?.attributes) === JSON.stringify(b?.attributes);
  const result = new Map(now);
  for (const [k, o] of had) {
    const w = want.get(k);
    if (!w && now.has(k) && same(now.get(k), o)) result.delete(k); // extra before, untouched by the run
    else if (w && !same(w, o) && same(now.get(k), o)) result.set(k, w); // changed before, untouched
  }
  for (const [k, w] of want) {
    if (!had.has(k) && !now.has(k)) result.set(k, w); // missing before, still missing
  }
  return [...result.values()];
}
