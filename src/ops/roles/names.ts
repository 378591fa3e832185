/**
 * The roles jeex-db manages, by what they are for. Names are configurable (a prefix) because
 * roles are cluster-wide: two projects, or the test suite and a developer's database, can share
 * one cluster without sharing roles.
 */
export const ROLE_KINDS = ['owner', 'migrator', 'app', 'readonly', 'backup', 'monitor', 'replicator'] as const;
export type RoleKind = (typeof ROLE_KINDS)[number];

/** The roles that log in (everything but the owner) and so have passwords. */
export const LOGIN_KINDS = ['migrator', 'app', 'readonly', 'backup', 'monitor', 'replicator'] as const satisfies readonly RoleKind[];
export type LoginKind = (typeof LOGIN_KINDS)[number];

export type RoleSet = Record<RoleKind, string>;

/** The default prefix: `jeex_owner`, `jeex_migrator`, `jeex_app`, ... */
export const DEFAULT_ROLE_PREFIX = 'jeex';

/**
 * The seven role names for a prefix.
 *
 * @example
 * roleNames('jeex') // { owner: 'jeex_owner', migrator: 'jeex_migrator', app: 'jeex_app', ... }
 */
export function roleNames(prefix: string = DEFAULT_ROLE_PREFIX): RoleSet {
  return Object.fromEntries(ROLE_KINDS.map((kind) => [kind, `${prefix}_${kind}`])) as RoleSet;
}

export function isLoginKind(kind: string): kind is LoginKind {
  return (LOGIN_KINDS as readonly string[]).includes(kind);
}

/** A quoted SQL identifier. */
export const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** A quoted SQL string literal. */
export const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`;
