import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import type { RoleChange } from './acl.ts';
import type { RoleKind } from './names.ts';
import { ident, literal } from './names.ts';

/**
 * What `roles apply` (and `roles rotate`) left a login role with, kept as the role's COMMENT so
 * that `jeex-db health` can tell when the role changed itself afterwards. PostgreSQL lets every
 * role change its own password and its own settings (`ALTER ROLE <self> PASSWORD ...`,
 * `ALTER ROLE <self> [IN DATABASE d] SET ...`: src/backend/commands/user.c, AlterRole and
 * AlterRoleSet, allow it for the role itself whatever its privileges), so that cannot be
 * refused; it can be seen. A comment is the place for it: cluster-wide like the role, readable
 * by every role (the monitor), and only a superuser or a CREATEROLE role with ADMIN OPTION on the
 * role may change it, never the role itself.
 *
 * The verifier is kept as a SHA-256 of pg_authid.rolpassword: a change shows, and without the
 * verifier's salt it gives nothing to guess a password from.
 */
export interface RoleRecord {
  kind: RoleKind;
  /** The role settings (setdatabase 0) `roles apply` set: MANAGED_SETTINGS that the catalog lists. */
  settings: Record<string, string>;
  /** sha256 (hex) of the verifier as pg_authid stores it; null when the role has no password. */
  verifier: string | null;
}

/** Every record starts with it; `jeex_roles.verifier_fingerprints()` and the health check look for it. */
export const RECORD_PREFIX = 'jeex-db ';

/** sha256 (hex) of a verifier as pg_authid stores it; what `jeex_roles.verifier_fingerprints()` computes on the server. */
export function verifierFingerprint(verifier: string | null | undefined): string | null {
  return verifier ? createHash('sha256').update(verifier, 'utf8').digest('hex') : null;
}

/**
 * The comment text for a record: a sentence for whoever reads `\du+`, then the record as JSON.
 *
 * @example
 * recordText({ kind: 'app', settings: { statement_timeout: '30s' }, verifier: null })
 * // 'jeex-db app role, as `jeex-db roles apply` left it (compared by `jeex-db health`; do not edit): {"kind":"app",...}'
 */
export function recordText(record: RoleRecord): string {
  return `${RECORD_PREFIX}${record.kind} role, as \`jeex-db roles apply\` left it (compared by \`jeex-db health\`; do not edit): ${JSON.stringify(record)}`;
}

/** The record in a role's comment; undefined when the comment is not one (none, someone else's, damaged). */
export function parseRecord(text: string | null | undefined): RoleRecord | undefined {
  if (!text?.startsWith(RECORD_PREFIX)) return undefined;
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value = JSON.parse(text.slice(start)) as Partial<RoleRecord>;
    const settings = value.settings;
    if (typeof value.kind !== 'string' || typeof settings !== 'object' || settings === null) return undefined;
    if (!Object.values(settings).every((v) => typeof v === 'string')) return undefined;
    if (value.verifier !== null && typeof value.verifier !== 'string') return undefined;
    return { kind: value.kind, settings, verifier: value.verifier };
  } catch {
    return undefined;
  }
}

async function currentComment(admin: Sql, role: string): Promise<string | null> {
  const [row] = await admin<{ comment: string | null }[]>`SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = ${role}`;
  return row?.comment ?? null;
}

/**
 * Write the record of a role when it differs from `current` (its comment now). Reported as a
 * change only when `quiet` is false (a run that changed the role itself already says so).
 */
export async function ensureRecord(admin: Sql, role: string, current: string | null, record: RoleRecord, quiet: boolean): Promise<RoleChange[]> {
  const text = recordText(record);
  if (current === text) return [];
  await admin.unsafe(`COMMENT ON ROLE ${ident(role)} IS ${literal(text)}`);
  if (quiet) return [];
  return [{ object: `role ${role}`, change: current && parseRecord(current) ? 'record for `jeex-db health` rewritten (it differed from the role)' : 'record for `jeex-db health` written' }];
}

/**
 * After a password was set outside `roles apply` (`roles rotate`): the record's verifier follows,
 * so health does not report the rotation as a change behind our back. A role without a record
 * (never applied) is left without one.
 */
export async function recordVerifier(admin: Sql, role: string, verifier: string): Promise<void> {
  const record = parseRecord(await currentComment(admin, role));
  if (!record) return;
  await admin.unsafe(`COMMENT ON ROLE ${ident(role)} IS ${literal(recordText({ ...record, verifier: verifierFingerprint(verifier) }))}`);
}
