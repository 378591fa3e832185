import type { Sql } from 'postgres';
import { ACL_COLUMNS, ensureGrants, readGrants, type RoleChange } from './acl.ts';
import { ident } from './names.ts';
import { RECORD_PREFIX } from './role-record.ts';

/** The schema of the function below: a superuser's, so the application's owner role cannot drop or replace it. */
export const VERIFIER_SCHEMA = 'jeex_roles';
export const VERIFIER_FUNCTION = 'verifier_fingerprints';

/**
 * The body of `jeex_roles.verifier_fingerprints()`: the sha256 of each recorded role's verifier.
 * The monitoring role may not read pg_authid (nor should it: a verifier allows an offline
 * guessing attack); this SECURITY DEFINER function of a superuser gives it a fingerprint, which
 * the health check compares with the role's record (src/ops/roles/role-record.ts).
 */
export const VERIFIER_FUNCTION_BODY = `
  SELECT a.rolname, encode(sha256(convert_to(a.rolpassword, 'UTF8')), 'hex')
  FROM pg_catalog.pg_authid a
  WHERE pg_catalog.starts_with(pg_catalog.shobj_description(a.oid, 'pg_authid'), '${RECORD_PREFIX}')
`;

const qualified = `${ident(VERIFIER_SCHEMA)}.${ident(VERIFIER_FUNCTION)}()`;

interface FunctionRow {
  owner: string;
  superuser: boolean;
  definer: boolean;
  body: string;
  config: string[] | null;
}

/**
 * Create (or put back) `jeex_roles.verifier_fingerprints()` in the application database, owned by
 * the superuser running `roles apply`, callable by the monitoring role only. `sql` must be a
 * superuser connection to that database.
 */
export async function ensureVerifierFunction(sql: Sql, monitor: string): Promise<RoleChange[]> {
  const changes: RoleChange[] = [];
  const [schema] = await sql<{ owner: string; superuser: boolean }[]>`
    SELECT pg_get_userbyid(n.nspowner) AS owner, r.rolsuper AS superuser
    FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = ${VERIFIER_SCHEMA}`;
  if (!schema) {
    await sql.unsafe(`CREATE SCHEMA ${ident(VERIFIER_SCHEMA)}`);
    changes.push({ object: `schema ${VERIFIER_SCHEMA}`, change: 'created (for `jeex-db health`: whether a login role changed its own password)' });
  } else if (!schema.superuser) {
    // Made by someone else (the database owner may create schemas): it must be ours to trust.
    await sql.unsafe(`ALTER SCHEMA ${ident(VERIFIER_SCHEMA)} OWNER TO CURRENT_USER`);
    changes.push({ object: `schema ${VERIFIER_SCHEMA}`, change: `owner ${schema.owner} -> the superuser` });
  }

  const [fn] = await sql<FunctionRow[]>`
    SELECT pg_get_userbyid(p.proowner) AS owner, r.rolsuper AS superuser, p.prosecdef AS definer, p.prosrc AS body, p.proconfig AS config
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
    WHERE n.nspname = ${VERIFIER_SCHEMA} AND p.proname = ${VERIFIER_FUNCTION} AND p.pronargs = 0`;
  const config = ['search_path=pg_catalog, pg_temp'];
  if (!fn || fn.body !== VERIFIER_FUNCTION_BODY || !fn.definer || JSON.stringify(fn.config) !== JSON.stringify(config)) {
    await sql.unsafe(`
      CREATE OR REPLACE FUNCTION ${qualified} RETURNS TABLE (role name, fingerprint text)
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
      AS $jeex$${VERIFIER_FUNCTION_BODY}$jeex$`);
    changes.push({ object: `function ${VERIFIER_SCHEMA}.${VERIFIER_FUNCTION}()`, change: fn ? 'replaced (it differed)' : 'created (SECURITY DEFINER: fingerprints of the login roles\' verifiers for the monitoring role)' });
  }
  if (fn && !fn.superuser) {
    await sql.unsafe(`ALTER FUNCTION ${qualified} OWNER TO CURRENT_USER`);
    changes.push({ object: `function ${VERIFIER_SCHEMA}.${VERIFIER_FUNCTION}()`, change: `owner ${fn.owner} -> the superuser` });
  }

  const schemaAcl = await readGrants(sql, `SELECT ${ACL_COLUMNS} FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a WHERE n.nspname = $1`, [VERIFIER_SCHEMA]);
  changes.push(...(await ensureGrants(sql, { describe: `schema ${VERIFIER_SCHEMA}`, on: `SCHEMA ${ident(VERIFIER_SCHEMA)}` }, schemaAcl, { PUBLIC: [], [monitor]: ['USAGE'] })));
  const functionAcl = await readGrants(
    sql,
    `SELECT ${ACL_COLUMNS} FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a WHERE p.oid = $1::regprocedure`,
    [`${VERIFIER_SCHEMA}.${VERIFIER_FUNCTION}()`],
  );
  changes.push(...(await ensureGrants(sql, { describe: `function ${VERIFIER_SCHEMA}.${VERIFIER_FUNCTION}()`, on: `FUNCTION ${qualified}` }, functionAcl, { PUBLIC: [], [monitor]: ['EXECUTE'] })));
  return changes;
}
