import type { TransactionSql } from 'postgres';
import { MANAGED_SETTINGS } from '../roles/catalog.ts';
import { parseRecord, RECORD_PREFIX, type RoleRecord } from '../roles/role-record.ts';
import { VERIFIER_FUNCTION, VERIFIER_FUNCTION_BODY, VERIFIER_SCHEMA } from '../roles/verifier-function.ts';
import { boundedRead } from './bounded.ts';
import { measure, type CheckContext, type CheckSpec, type Entry } from './measure.ts';

const PG = 'postgresql';

/** A login role with a `roles apply` record that may connect to the checked database, as the monitor sees it. */
interface RecordedRole {
  role: string;
  comment: string;
  /** Its settings for every database (pg_db_role_setting, setdatabase 0). */
  config: string[] | null;
  /** Its settings for one database (ALTER ROLE ... IN DATABASE ... SET), which win over `config`. */
  perDatabase: { database: string; config: string[] }[];
}

const parseConfig = (config: readonly string[] | null): Map<string, string> =>
  new Map((config ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));

/**
 * How a role's settings differ from its record, one sentence each: a managed setting with
 * another value (or set where `roles apply` set none, or missing), and any managed setting for
 * one database (it overrides the role's own). Settings `roles apply` does not manage are not
 * looked at (someone may have set them on purpose).
 *
 * @example
 * settingsDrift('jeex_app', { kind: 'app', settings: { statement_timeout: '30s' }, verifier: null }, ['statement_timeout=0'], [])
 * // ['jeex_app: statement_timeout is 0 (roles apply set 30s)']
 */
export function settingsDrift(role: string, record: RoleRecord, config: readonly string[] | null, perDatabase: readonly { database: string; config: readonly string[] }[]): string[] {
  const have = parseConfig(config);
  const drift: string[] = [];
  for (const name of MANAGED_SETTINGS) {
    const want = record.settings[name];
    const value = have.get(name);
    if (value === want) continue;
    if (value === undefined) drift.push(`${role}: ${name} is not set (roles apply set ${want ?? ''})`);
    else drift.push(`${role}: ${name} is ${value} (roles apply set ${want === undefined ? 'none' : want})`);
  }
  for (const entry of perDatabase) {
    for (const [name, value] of parseConfig(entry.config)) {
      if (!(MANAGED_SETTINGS as readonly string[]).includes(name)) continue;
      drift.push(`${role} in database ${entry.database}: ${name} = ${value} overrides the role's ${record.settings[name] ?? 'default'}`);
    }
  }
  return drift;
}

async function recordedRoles(tx: TransactionSql): Promise<RecordedRole[]> {
  return tx<RecordedRole[]>`
    SELECT r.rolname AS role, shobj_description(r.oid, 'pg_authid') AS comment,
           (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0) AS config,
           coalesce((SELECT json_agg(json_build_object('database', d.datname, 'config', s.setconfig) ORDER BY d.datname)
                     FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = r.oid), '[]'::json) AS "perDatabase"
    FROM pg_roles r
    WHERE r.rolcanlogin AND starts_with(shobj_description(r.oid, 'pg_authid'), ${RECORD_PREFIX})
      AND has_database_privilege(r.oid, current_database(), 'CONNECT')
    ORDER BY 1`;
}

type Fingerprints = { ok: true; byRole: Map<string, string | null> } | { ok: false; why: string };

/** The verifiers' fingerprints from `jeex_roles.verifier_fingerprints()`, if it is there, ours, and callable. */
async function fingerprints(tx: TransactionSql): Promise<Fingerprints> {
  const [fn] = await tx<{ definer: boolean; superuser: boolean; body: string; callable: boolean }[]>`
    SELECT p.prosecdef AS definer, o.rolsuper AS superuser, p.prosrc AS body,
           has_schema_privilege(p.pronamespace, 'USAGE') AND has_function_privilege(p.oid, 'EXECUTE') AS callable
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles o ON o.oid = p.proowner
    WHERE n.nspname = ${VERIFIER_SCHEMA} AND p.proname = ${VERIFIER_FUNCTION} AND p.pronargs = 0`;
  const name = `${VERIFIER_SCHEMA}.${VERIFIER_FUNCTION}()`;
  if (!fn) return { ok: false, why: `${name} is missing in this database: run \`jeex-db roles apply\` (it creates it)` };
  if (!fn.definer || !fn.superuser || fn.body !== VERIFIER_FUNCTION_BODY) return { ok: false, why: `${name} is not the one \`jeex-db roles apply\` makes (a superuser's SECURITY DEFINER function): run \`jeex-db roles apply\`, which puts it back` };
  if (!fn.callable) return { ok: false, why: `this role may not call ${name}: run the health check as the monitoring role (jeex_monitor; \`roles apply\` grants it)` };
  const rows = await tx.unsafe<{ role: string; fingerprint: string | null }[]>(`SELECT role, fingerprint FROM "${VERIFIER_SCHEMA}"."${VERIFIER_FUNCTION}"()`);
  return { ok: true, byRole: new Map(rows.map((r) => [r.role, r.fingerprint])) };
}

const SETTINGS_FIX =
  'A login role may change its own settings (ALTER ROLE <itself> [IN DATABASE ...] SET ...: PostgreSQL allows it whatever its privileges), which applies from its next login; ' +
  'set them back with `jeex-db roles apply` (`up` runs it too; another server: `jeex-db roles apply --url <superuser URL>`), and find who ran it in the server log (`jeex-db audit`)';

const PASSWORD_FIX =
  'A login role may change its own password (ALTER ROLE <itself> PASSWORD ...: PostgreSQL allows it whatever its privileges). PgBouncer and every client that holds the password it had ' +
  'fail to log in as soon as their open connections close (through PgBouncer: a POOL_TIMEOUT, then "server login has been failing"); ' +
  'set it back with `jeex-db roles apply` (the local cluster: the password of secrets.json, PgBouncer reloaded; another server: with JEEX_<ROLE>_PASSWORD and --url), ' +
  'or give the role a new one with `jeex-db roles rotate <role>` and hand it to its clients';

/**
 * `postgresql:roleSettings` and `postgresql:rolePasswords`: whether the login roles that may
 * connect to this database still have the settings and the password `roles apply` (or
 * `roles rotate`) left them with, as kept in each role's record (src/ops/roles/role-record.ts).
 * Readable by the monitoring role: pg_db_role_setting and the roles' comments are public, the
 * verifiers' fingerprints come from `jeex_roles.verifier_fingerprints()`.
 */
export const roleCheck: CheckSpec = {
  what: "the login roles' settings and passwords",
  key: `${PG}:roleSettings`,
  componentType: PG,
  run: async (ctx: CheckContext) => {
    const { roles, prints } = await boundedRead(ctx.sql, ctx.timeoutMs, 'reading the roles', async (tx) => {
      const found = await recordedRoles(tx);
      return { roles: found, prints: found.length > 0 ? await fingerprints(tx) : undefined };
    });
    const componentId = ctx.facts.database;
    const entry = (key: string, m: Parameters<typeof measure>[1]): Entry => ({ key, check: measure(ctx.now, m) });
    if (roles.length === 0) {
      ctx.note(`${PG}:roleSettings: no login role that \`jeex-db roles apply\` recorded may connect to database ${componentId}, so no role is checked (roles applied by an older jeex-db: run \`jeex-db roles apply\`)`);
      return [
        entry(`${PG}:roleSettings`, { value: 0, unit: '{setting}', status: 'pass', componentType: PG, componentId }),
        entry(`${PG}:rolePasswords`, { value: 0, unit: '{role}', status: 'pass', componentType: PG, componentId }),
      ];
    }
    const drift: string[] = [];
    const damaged: string[] = [];
    const records = new Map<string, RoleRecord>();
    for (const row of roles) {
      const record = parseRecord(row.comment);
      if (!record) {
        damaged.push(row.role);
        continue;
      }
      records.set(row.role, record);
      drift.push(...settingsDrift(row.role, record, row.config, row.perDatabase));
    }
    const damagedText = damaged.length > 0 ? `the record of ${damaged.join(', ')} (its COMMENT) is not one \`jeex-db roles apply\` wrote: run \`jeex-db roles apply\`, which writes it again` : '';
    const settings = entry(`${PG}:roleSettings`, {
      value: drift.length,
      unit: '{setting}',
      status: drift.length > 0 ? 'fail' : damaged.length > 0 ? 'warn' : 'pass',
      componentType: PG,
      componentId,
      output: drift.length > 0 ? `${drift.join('; ')}. ${SETTINGS_FIX}${damagedText ? `; ${damagedText}` : ''}` : damagedText,
    });

    if (!prints?.ok) {
      return [settings, entry(`${PG}:rolePasswords`, { value: null, status: 'warn', componentType: PG, componentId, output: `cannot tell whether a login role changed its password: ${prints?.why ?? 'no answer'}` })];
    }
    const changed = [...records].filter(([role, record]) => (prints.byRole.get(role) ?? null) !== record.verifier).map(([role]) => role);
    const passwords = entry(`${PG}:rolePasswords`, {
      value: changed.length,
      unit: '{role}',
      status: changed.length > 0 ? 'fail' : 'pass',
      componentType: PG,
      componentId,
      output: `the password of ${changed.join(', ')} is not the one \`jeex-db roles apply\` or \`roles rotate\` set. ${PASSWORD_FIX}`,
    });
    return [settings, passwords];
  },
};
