import type { Sql } from 'postgres';
import { inPasses } from './batches.ts';
import type { ColumnCipher } from '../../crypto/column-cipher.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_MAX_PASSES, rotationIncomplete, type RotateOptions } from './rotate-data-key.ts';
import type { JeexDbError } from '../../core/errors.ts';
import { Sealed } from '../../crypto/sealed.ts';

export interface BlindIndexConflict {
  /** The row that could not be moved to the new key... */
  id: string;
  /** ...because this row already holds the same email under the new key. */
  conflictsWith: string;
}

export interface RotateBlindIndexResult {
  /** The blind-index key every email_hash is now computed with (the first configured). */
  keyId: string;
  dryRun: boolean;
  table: 'users';
  before: number;
  changed: number;
  remaining: number;
  batches: number;
  passes: number;
  /**
   * Rows whose email another row holds under the new key: two users with one email, created
   * while the keys were being rolled out. They stay under the old key until one is removed.
   */
  conflicts: BlindIndexConflict[];
  durationMs: number;
  /** `KEY_ROTATION_INCOMPLETE` when rows are left under an older key (never in a dry run). */
  error?: JeexDbError;
}

/**
 * Recompute `users.email_hash` under the current blind-index key for every row hashed with
 * another one: each batch locks its rows (`FOR UPDATE SKIP LOCKED`), decrypts their emails (so
 * the data keys are needed too) and stores the new HMAC. Lookups keep working throughout, since
 * findUserByEmail tries every configured blind-index key (JEEX_BLIND_INDEX_KEYS="new,old") and
 * createUser then checks all of them for a taken email. Resumable; the old key may be removed
 * once `remaining` is 0.
 *
 * Roll the keys out in two steps so that no process computes the new hash while another knows
 * only the old one: first `old,new` everywhere, then `new,old` everywhere, then rotate.
 *
 * @example
 * await rotateBlindIndex(sql, loadColumnCipher({ ...process.env, JEEX_BLIND_INDEX_KEYS: `${next},${old}` }));
 */
export async function rotateBlindIndex(sql: Sql, cipher: ColumnCipher, options: RotateOptions = {}): Promise<RotateBlindIndexResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const keyId = cipher.blindIndexKeyId;
  const current = Buffer.from(keyId, 'hex');
  const stale = 'substring(email_hash FROM 1 FOR 4) <> $1';
  const count = async () => Number((await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM users WHERE ${stale}`, [current]))[0]?.n ?? 0);
  const before = await count();
  const conflicts = new Map<string, string>();
  const result = (outcome: { done: number; remaining: number; batches: number; passes: number }): RotateBlindIndexResult => ({
    keyId,
    dryRun: Boolean(options.dryRun),
    table: 'users',
    before,
    changed: outcome.done,
    remaining: outcome.remaining,
    batches: outcome.batches,
    passes: outcome.passes,
    conflicts: [...conflicts].map(([id, conflictsWith]) => ({ id, conflictsWith })),
    durationMs: Math.round(performance.now() - started),
    ...(!options.dryRun && outcome.remaining > 0 ? { error: rotationIncomplete('blind-index', outcome.remaining, conflicts.size) } : {}),
  });
  if (options.dryRun || before === 0) return result({ done: 0, remaining: before, batches: 0, passes: 0 });

  let done = 0;
  const outcome = await inPasses(
    { batchSize, maxPasses: options.maxPasses ?? DEFAULT_MAX_PASSES, ...(options.signal ? { signal: options.signal } : {}) },
    (after) =>
      sql.begin(async (tx) => {
        const rows = await tx.unsafe<{ id: string; email: string }[]>(
          `SELECT id, email FROM users WHERE id > $2 AND ${stale} ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [current, after, batchSize],
        );
        const last = rows[rows.length - 1];
        if (!last) return { lastId: undefined, changed: 0 };
        const hashed = rows.map((row) => ({
          id: row.id,
          hash: cipher.blindIndex(cipher.open(Sealed.parse(row.email, `users.email of row ${row.id}`), 'users.email', row.id)).toString('hex'),
        }));
        // Another row with the same email under the new key (a duplicate made during the roll-out)
        // would break the unique constraint: leave such rows and report them.
        const taken = new Map(
          (
            await tx.unsafe<{ id: string; hash: string }[]>(
              `SELECT id, encode(email_hash, 'hex') AS hash FROM users WHERE email_hash = ANY(SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h)`,
              [hashed.map((row) => row.hash)],
            )
          ).map((row) => [row.hash, row.id]),
        );
        const moved = hashed.filter((row) => {
          const holder = taken.get(row.hash);
          if (holder !== undefined && holder !== row.id) {
            conflicts.set(row.id, holder);
            return false;
          }
          taken.set(row.hash, row.id);
          return true;
        });
        if (moved.length > 0) {
          await tx.unsafe(`UPDATE users AS t SET email_hash = decode(v.h, 'hex') FROM unnest($1::uuid[], $2::text[]) AS v(id, h) WHERE t.id = v.id`, [
            moved.map((row) => row.id),
            moved.map((row) => row.hash),
          ]);
        }
        done += moved.length;
        options.onProgress?.({ table: 'users', done, total: before });
        return { lastId: last.id, changed: moved.length };
      }),
    count,
  );
  return result(outcome);
}
