import { randomBytes } from 'node:crypto';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { inject } from 'vitest';
import { applyRoles, type ApplyRolesResult } from '../../src/ops/roles/apply.ts';
import { LOGIN_KINDS, roleNames, type LoginKind, type RoleSet } from '../../src/ops/roles/names.ts';
import type { RoleSettings } from '../../src/ops/roles/settings.ts';
import { withDatabase } from './urls.ts';

export interface RoleFixture {
  prefix: string;
  roles: RoleSet;
  passwords: Record<LoginKind, string>;
  database: string;
  /** A superuser connection to the fixture's database. */
  admin: Sql;
  /** The URL of a login role (or the superuser) on the fixture's database. */
  url(kind: LoginKind | 'superuser'): string;
  /** `roles apply` again (e.g. to show that it changes nothing), with other settings if given. */
  apply(settings?: Partial<RoleSettings>): Promise<ApplyRolesResult>;
  /** Drop the database and the roles. */
  remove(): Promise<void>;
}

/**
 * Roles of their own for one test file (a unique prefix: roles are cluster-wide, and the run's
 * jeex_test_* roles are shared by every file) and a database `roles apply` created for them.
 */
export async function createRoleFixture(settings: Partial<RoleSettings> = {}): Promise<{ fixture: RoleFixture; first: ApplyRolesResult }> {
  const server = inject('testServer');
  const prefix = `jeex_r${randomBytes(3).toString('hex')}`;
  const roles = roleNames(prefix);
  const passwords = Object.fromEntries(LOGIN_KINDS.map((kind) => [kind, randomBytes(24).toString('base64url')])) as Record<LoginKind, string>;
  const database = `${prefix}_db`;
  const apply = async (override?: Partial<RoleSettings>) => {
    const admin = connect(server.adminUrl, { max: 1, onnotice: () => {} });
    try {
      return await applyRoles(admin, (db) => connect(withDatabase(server.adminUrl, db), { max: 1, onnotice: () => {} }), { database, roles, passwords, settings: override ?? settings });
    } finally {
      await admin.end();
    }
  };
  const first = await apply();
  const admin = connect(withDatabase(server.adminUrl, database), { max: 2, onnotice: () => {} });
  const fixture: RoleFixture = {
    prefix,
    roles,
    passwords,
    database,
    admin,
    url: (kind) => (kind === 'superuser' ? withDatabase(server.adminUrl, database) : withDatabase(server.adminUrl, database, { user: roles[kind], password: passwords[kind] })),
    apply,
    remove: async () => {
      await admin.end({ timeout: 1 });
      const dropper = connect(server.adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        for (const kind of [...LOGIN_KINDS, 'owner'] as const) await dropper.unsafe(`DROP ROLE IF EXISTS ${roles[kind]}`);
      } finally {
        await dropper.end();
      }
    },
  };
  return { fixture, first };
}
