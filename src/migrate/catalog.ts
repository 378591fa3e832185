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
export type CatalogFingerprint = Record<(typeof FINGERPRINT_KINDS)[number], string[]>;

/**
 * Everything about a database's schema that a migration can change, read from pg_catalog, as
 * sorted lines of text: two databases (or one database at two moments) with equal fingerprints
 * have the same schema. OIDs never appear, and names PostgreSQL makes up (the internal triggers of
 * foreign keys, `RI_ConstraintTrigger_a_16423`) are replaced by what they belong to.
 * Read-only: plain catalog reads, any role that can connect may run it.
 *
 * System schemas are left out; `jeex_migrations` and `drizzle` (the runners' ledgers) are kept:
 * their structure must not change either.
 *
 * @example
 * const before = await catalogFingerprint(sql);
 * await rollback(sql, { steps: 3 }); await migrate(sql);
 * expect(await catalogFingerprint(sql)).toEqual(before);
 */
export async function catalogFingerprint(sql: Sql | TransactionSql | ReservedSql): Promise<CatalogFingerprint> {
  const user = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'";
  // Objects an extension installed (pg_stat_statements lives in public) are the extension's, listed under `extensions`.
  const notExtension = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '${catalog}'::regclass AND x.objid = ${oid} AND x.deptype = 'e')`;
  const lines = async (query: string) => (await sql.unsafe<{ line: string }[]>(query)).map((row) => row.line).sort();
  return {
    schemas: await lines(`
      SELECT n.nspname || ' owner=' || pg_get_userbyid(n.nspowner) || ' acl=' || coalesce(n.nspacl::text, '') AS line
      FROM pg_namespace n WHERE ${user}`),
    relations: await lines(`
      SELECT n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
             || ' owner=' || pg_get_userbyid(c.relowner) || ' acl=' || coalesce(c.relacl::text, '')
             || ' options=' || coalesce(c.reloptions::text, '') || ' rls=' || c.relrowsecurity
             || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '') AS line
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${user} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND ${notExtension('pg_class', 'c.oid')}`),
    columns: await lines(`
      SELECT n.nspname || '.' || c.relname || ' #' || a.attnum || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
             || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
             || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
             || ' collation=' || coalesce(co.collname, '') || ' comment=' || coalesce(col_description(c.oid, a.attnum), '') AS line
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
      WHERE ${user} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped AND ${notExtension('pg_class', 'c.oid')}`),
    constraints: await lines(`
      SELECT n.nspname || '.' || coalesce(c.relname, t.typname) || ' ' || k.conname || ' type=' || k.contype::text
             || ' deferrable=' || k.condeferrable || ' deferred=' || k.condeferred || ' validated=' || k.convalidated
             || ' ' || pg_get_constraintdef(k.oid) AS line
      FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
      LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
      WHERE ${user}`),
    indexes: await lines(`
      SELECT n.nspname || '.' || i.relname || ' on ' || c.relname || ' unique=' || x.indisunique || ' primary=' || x.indisprimary
             || ' valid=' || x.indisvalid || ' immediate=' || x.indimmediate || ' ' || pg_get_indexdef(x.indexrelid) AS line
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = i.relnamespace
      WHERE ${user}`),
    triggers: await lines(`
      SELECT n.nspname || '.' || c.relname || ' ' ||
             CASE WHEN tg.tgisinternal
               -- RI_ConstraintTrigger_<kind>_<oid>: named by its constraint and what it does instead
               THEN 'internal for ' || coalesce(k.conname, '?') || ' ' || tg.tgfoid::regproc::text || ' type=' || tg.tgtype
                    || ' deferrable=' || tg.tgdeferrable || ' deferred=' || tg.tginitdeferred
               ELSE pg_get_triggerdef(tg.oid)
             END || ' enabled=' || tg.tgenabled::text AS line
      FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_constraint k ON k.oid = tg.tgconstraint
      WHERE ${user}`),
    functions: await lines(`
      SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') owner='
             || pg_get_userbyid(p.proowner) || ' acl=' || coalesce(p.proacl::text, '') || E'\\n'
             || CASE WHEN p.prokind IN ('a', 'w') THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END AS line
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${user} AND ${notExtension('pg_proc', 'p.oid')}`),
    types: await lines(`
      SELECT n.nspname || '.' || t.typname || ' type=' || t.typtype::text || ' owner=' || pg_get_userbyid(t.typowner)
             || ' base=' || CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END
             || ' labels=' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '') AS line
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      LEFT JOIN pg_class c ON c.oid = t.typrelid
      -- not the row types of tables nor the array types PostgreSQL makes for every type
      WHERE ${user} AND (t.typrelid = 0 OR c.relkind = 'c') AND NOT (t.typcategory = 'A' AND t.typelem <> 0)
        AND ${notExtension('pg_type', 't.oid')}`),
    sequences: await lines(`
      SELECT n.nspname || '.' || c.relname || ' ' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart || ' increment=' || s.seqincrement
             || ' min=' || s.seqmin || ' max=' || s.seqmax || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
             || ' owned_by=' || coalesce((SELECT r.relname || '.' || a.attname FROM pg_depend dep
                  JOIN pg_class r ON r.oid = dep.refobjid JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
                  WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype IN ('a', 'i') LIMIT 1), '') AS line
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${user}`),
    policies: await lines(`
      SELECT n.nspname || '.' || c.relname || ' ' || pol.polname || ' cmd=' || pol.polcmd::text || ' permissive=' || pol.polpermissive
             || ' using=' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '') || ' check=' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') AS line
      FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${user}`),
    extensions: await lines(`SELECT e.extname || ' ' || e.extversion || ' in ' || n.nspname AS line FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`),
  };
}

/** The fingerprint of the `public` schema only (what the application's migrations own). */
export function publicPart(fingerprint: CatalogFingerprint): CatalogFingerprint {
  const inPublic = (line: string) => line.startsWith('public.') || line.startsWith('public ');
  return Object.fromEntries(FINGERPRINT_KINDS.map((kind) => [kind, fingerprint[kind].filter(inPublic)])) as CatalogFingerprint;
}
