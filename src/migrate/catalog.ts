import type { ReservedSql, Sql, TransactionSql } from 'postgres';

export const FINGERPRINT_KINDS = [
  'schemas',
  'relations',
  'columns',
  'constraints',
  'indexes',
  'triggers',
  'functions',
  'types',
  'sequences',
  'policies',
  'extensions',
] as const;
export type FingerprintKind = (typeof FINGERPRINT_KINDS)[number];
export type CatalogFingerprint = Record<FingerprintKind, string[]>;

/**
 * One object of the catalog: its kind, its name as a person writes it (`public.projects.owner_note`
 * for a column, `public.projects_owner_id_idx` for an index) and its properties as text, in a
 * fixed order. Two objects of the same kind and name are the same object.
 */
export interface CatalogObject {
  kind: FingerprintKind;
  /** Schema of the object (the table's for columns, constraints, triggers and policies). */
  schema: string;
  name: string;
  attributes: Record<string, string>;
}

type Db = Sql | TransactionSql | ReservedSql;

const USER_SCHEMA = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'";
// Objects an extension installed (pg_stat_statements lives in public) are the extension's, listed under `extensions`.
const notExtension = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '${catalog}'::regclass AND x.objid = ${oid} AND x.deptype = 'e')`;
const qualified = (...parts: string[]) => parts.join(" || '.' || ");

/** Per kind: the schema, the name and the properties (a json object of text, in order). */
const QUERIES: Record<FingerprintKind, string> = {
  schemas: `
    SELECT n.nspname AS schema, n.nspname AS name,
           json_build_object('owner', pg_get_userbyid(n.nspowner), 'acl', coalesce(n.nspacl::text, '')) AS attributes
    FROM pg_namespace n WHERE ${USER_SCHEMA}`,
  relations: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'c.relname')} AS name,
           json_build_object('kind', c.relkind::text, 'persistence', c.relpersistence::text, 'owner', pg_get_userbyid(c.relowner),
             'acl', coalesce(c.relacl::text, ''), 'options', coalesce(c.reloptions::text, ''), 'rls', c.relrowsecurity::text,
             'comment', coalesce(obj_description(c.oid, 'pg_class'), '')) AS attributes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND ${notExtension('pg_class', 'c.oid')}`,
  columns: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'c.relname', 'a.attname')} AS name,
           json_build_object('position', a.attnum::text, 'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull::text,
             'default', coalesce(pg_get_expr(d.adbin, d.adrelid), ''), 'identity', a.attidentity::text, 'generated', a.attgenerated::text,
             'collation', coalesce(co.collname, ''), 'comment', coalesce(col_description(c.oid, a.attnum), '')) AS attributes
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
    WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped AND ${notExtension('pg_class', 'c.oid')}`,
  constraints: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'coalesce(c.relname, t.typname)', 'k.conname')} AS name,
           json_build_object('type', k.contype::text, 'deferrable', k.condeferrable::text, 'deferred', k.condeferred::text,
             'validated', k.convalidated::text, 'definition', pg_get_constraintdef(k.oid)) AS attributes
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
    LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
    WHERE ${USER_SCHEMA}`,
  indexes: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'i.relname')} AS name,
           json_build_object('on', c.relname, 'unique', x.indisunique::text, 'primary', x.indisprimary::text, 'valid', x.indisvalid::text,
             'immediate', x.indimmediate::text, 'definition', pg_get_indexdef(x.indexrelid)) AS attributes
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE ${USER_SCHEMA}`,
  // The internal triggers of foreign keys (RI_ConstraintTrigger_a_16423) are named by their constraint and what they do instead.
  triggers: `
    SELECT n.nspname AS schema,
           ${qualified('n.nspname', 'c.relname')} || '.' || CASE WHEN tg.tgisinternal THEN coalesce(k.conname, '?') || ' ' || tg.tgfoid::regproc::text ELSE tg.tgname END AS name,
           CASE WHEN tg.tgisinternal
             THEN json_build_object('internal', 'true', 'type', tg.tgtype::text, 'deferrable', tg.tgdeferrable::text, 'deferred', tg.tginitdeferred::text, 'enabled', tg.tgenabled::text)
             ELSE json_build_object('definition', pg_get_triggerdef(tg.oid), 'enabled', tg.tgenabled::text)
           END AS attributes
    FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_constraint k ON k.oid = tg.tgconstraint
    WHERE ${USER_SCHEMA}`,
  functions: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'p.proname')} || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
           json_build_object('owner', pg_get_userbyid(p.proowner), 'acl', coalesce(p.proacl::text, ''),
             'definition', CASE WHEN p.prokind IN ('a', 'w') THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END) AS attributes
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE ${USER_SCHEMA} AND ${notExtension('pg_proc', 'p.oid')}`,
  // Not the row types of tables nor the array types PostgreSQL makes for every type.
  types: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 't.typname')} AS name,
           json_build_object('type', t.typtype::text, 'owner', pg_get_userbyid(t.typowner),
             'base', CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END,
             'labels', coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')) AS attributes
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_class c ON c.oid = t.typrelid
    WHERE ${USER_SCHEMA} AND (t.typrelid = 0 OR c.relkind = 'c') AND NOT (t.typcategory = 'A' AND t.typelem <> 0)
      AND ${notExtension('pg_type', 't.oid')}`,
  sequences: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'c.relname')} AS name,
           json_build_object('type', format_type(s.seqtypid, NULL), 'start', s.seqstart::text, 'increment', s.seqincrement::text,
             'min', s.seqmin::text, 'max', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle::text,
             'owned_by', coalesce((SELECT r.relname || '.' || a.attname FROM pg_depend dep
                JOIN pg_class r ON r.oid = dep.refobjid JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
                WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype IN ('a', 'i') LIMIT 1), '')) AS attributes
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${USER_SCHEMA}`,
  policies: `
    SELECT n.nspname AS schema, ${qualified('n.nspname', 'c.relname', 'pol.polname')} AS name,
           json_build_object('cmd', pol.polcmd::text, 'permissive', pol.polpermissive::text,
             'using', coalesce(pg_get_expr(pol.polqual, pol.polrelid), ''), 'check', coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')) AS attributes
    FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${USER_SCHEMA}`,
  extensions: `
    SELECT n.nspname AS schema, e.extname AS name, json_build_object('version', e.extversion, 'in', n.nspname) AS attributes
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`,
};

/**
 * Everything about a database's schema that a migration can change, read from pg_catalog, one
 * object each, sorted by kind and name. OIDs never appear, and names PostgreSQL makes up are
 * replaced by what they belong to. Read-only: plain catalog reads, any role that can connect may
 * run it. System schemas are left out; everything else (the ledgers too) is in.
 *
 * @example
 * const columns = (await catalogObjects(sql)).filter((o) => o.kind === 'columns');
 */
export async function catalogObjects(sql: Db): Promise<CatalogObject[]> {
  const objects: CatalogObject[] = [];
  for (const kind of FINGERPRINT_KINDS) {
    const rows = await sql.unsafe<{ schema: string; name: string; attributes: Record<string, string> }[]>(QUERIES[kind]);
    for (const row of rows) objects.push({ kind, schema: row.schema, name: row.name, attributes: row.attributes });
  }
  return objects.sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : FINGERPRINT_KINDS.indexOf(a.kind) - FINGERPRINT_KINDS.indexOf(b.kind)));
}

/** An object as one line of text: its name, then `key=value` for each property. */
export function objectLine(object: CatalogObject): string {
  return [object.name, ...Object.entries(object.attributes).map(([key, value]) => `${key}=${value}`)].join(' ');
}

/**
 * The catalog (see `catalogObjects`) as sorted lines of text per kind: two databases (or one
 * database at two moments) with equal fingerprints have the same schema.
 *
 * @example
 * const before = await catalogFingerprint(sql);
 * await rollback(sql, { steps: 3 }); await migrate(sql);
 * expect(await catalogFingerprint(sql)).toEqual(before);
 */
export async function catalogFingerprint(sql: Db): Promise<CatalogFingerprint> {
  const fingerprint = Object.fromEntries(FINGERPRINT_KINDS.map((kind) => [kind, [] as string[]])) as CatalogFingerprint;
  for (const object of await catalogObjects(sql)) fingerprint[object.kind].push(objectLine(object));
  for (const kind of FINGERPRINT_KINDS) fingerprint[kind].sort();
  return fingerprint;
}

/** The fingerprint of the `public` schema only (what the application's migrations own). */
export function publicPart(fingerprint: CatalogFingerprint): CatalogFingerprint {
  const inPublic = (line: string) => line.startsWith('public.') || line.startsWith('public ') || line === 'public';
  return Object.fromEntries(FINGERPRINT_KINDS.map((kind) => [kind, fingerprint[kind].filter(inPublic)])) as CatalogFingerprint;
}
