import type { Sql } from 'postgres';
import type { RoleChange } from './acl.ts';
import { ident } from './names.ts';

/** The schemas whose objects belong to the owner role. */
export const OWNED_SCHEMAS = ['public', 'jeex_migrations', 'drizzle', 'jeex_audit'] as const;

interface OwnedObject {
  kind: string;
  name: string;
  owner: string;
}

/**
 * Hand every object in the application's schemas that `previousOwners` own (the migrator, in a
 * cluster made before the owner role existed) to `owner`: the schemas themselves, tables, views,
 * sequences that no column owns (the rest follow their table), functions, enums and domains.
 * Objects of extensions are left to the extension; objects someone else owns are left alone.
 * Targeted ALTERs rather than REASSIGN OWNED, which would also take every database the old role
 * owns anywhere in the cluster.
 */
export async function transferOwnership(sql: Sql, owner: string, previousOwners: readonly string[]): Promise<RoleChange[]> {
  const notExtension = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '${catalog}'::regclass AND x.objid = ${oid} AND x.deptype = 'e')`;
  const objects = await sql.unsafe<OwnedObject[]>(
    `
    WITH schemas AS (SELECT oid, nspname, nspowner FROM pg_namespace WHERE nspname = ANY($1::text[]))
    SELECT 'SCHEMA' AS kind, quote_ident(n.nspname) AS name, pg_get_userbyid(n.nspowner) AS owner
      FROM schemas n
      -- public is the owner's whoever has it now (pg_database_owner in a new database)
      WHERE pg_get_userbyid(n.nspowner) = ANY($2::text[]) OR (n.nspname = 'public' AND pg_get_userbyid(n.nspowner) <> $3)
    UNION ALL
    SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
           quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_get_userbyid(c.relowner)
      FROM pg_class c JOIN schemas n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_get_userbyid(c.relowner) = ANY($2::text[])
        AND ${notExtension('pg_class', 'c.oid')}
        -- identity and serial sequences move with their table
        AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END,
           quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_userbyid(p.proowner)
      FROM pg_proc p JOIN schemas n ON n.oid = p.pronamespace
      WHERE pg_get_userbyid(p.proowner) = ANY($2::text[]) AND ${notExtension('pg_proc', 'p.oid')}
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, quote_ident(n.nspname) || '.' || quote_ident(t.typname), pg_get_userbyid(t.typowner)
      FROM pg_type t JOIN schemas n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('e', 'd', 'r', 'm') AND pg_get_userbyid(t.typowner) = ANY($2::text[]) AND ${notExtension('pg_type', 't.oid')}
    ORDER BY 1, 2`,
    [[...OWNED_SCHEMAS], [...previousOwners], owner] as never[],
  );
  const changes: RoleChange[] = [];
  for (const object of objects) {
    await sql.unsafe(`ALTER ${object.kind} ${object.name} OWNER TO ${ident(owner)}`);
    changes.push({ object: `${object.kind.toLowerCase()} ${object.name}`, change: `owner ${object.owner} -> ${owner}` });
  }
  return changes;
}
