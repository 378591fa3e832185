import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import { JeexDbError } from '../../core/errors.ts';
import { scramVerifier } from '../../db/scram.ts';

/**
 * The auth_file entries: for PostgreSQL roles, their SCRAM verifiers exactly as pg_authid holds
 * them (PgBouncer can then log in to the server with the client's SCRAM keys, so it never needs
 * a plaintext password); for the admin console user, a verifier of its own.
 */
export async function authEntries(admin: Sql, roles: string[], console: { user: string; password: string }): Promise<{ user: string; verifier: string }[]> {
  const rows = await admin<{ rolname: string; rolpassword: string | null }[]>`
    SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(${roles})`;
  const entries = roles.map((role) => {
    const verifier = rows.find((r) => r.rolname === role)?.rolpassword;
    if (!verifier?.startsWith('SCRAM-SHA-256$')) {
      throw new JeexDbError('POOLER_START_FAILED', `role ${role} has no SCRAM-SHA-256 password, which PgBouncer needs to pass its logins through`, {
        hint: `Set one (ALTER ROLE ${role} PASSWORD '...' with password_encryption = 'scram-sha-256'), or start without PgBouncer (--no-pooler).`,
      });
    }
    return { user: role, verifier };
  });
  // The console's salt comes from its (random, 256-bit) password, so the verifier, and with it the
  // auth file, stays the same from one `up` to the next and PgBouncer is not reloaded for nothing.
  const salt = createHash('sha256').update(`jeex-db pgbouncer console:${console.user}:${console.password}`).digest().subarray(0, 16);
  return [...entries, { user: console.user, verifier: scramVerifier(console.password, 4096, salt) }];
}
