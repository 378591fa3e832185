import type { Sql } from 'postgres';
import { encryptedColumns } from '../../schema/sensitive.ts';
import { inPasses } from './batches.ts';
import type { ColumnCipher, ColumnId } from '../../crypto/column-cipher.ts';
import { Sealed } from '../../crypto/sealed.ts';
import { JeexDbError } from '../../core/errors.ts';

export interface RotateOptions {
  /** Rows per batch, each batch one short transaction. Default 500. */
  batchSize?: number;
  /** Count what would change, change nothing. */
  dryRun?: boolean;
  /** Passes over the table at most (rows locked by the application are retried). Default 10. */
  maxPasses?: number;
  /** Stop between two batches (the work done so far is kept; a rerun continues). */
  signal?: AbortSignal;
  /** After each batch: rows done so far of the total counted at the start. */
  onProgress?: (progress: RotationProgress) => void;
}

export interface RotationProgress {
  table: string;
  done: number;
  total: number;
}

export interface TableRotation {
  table: string;
  columns: string[];
  /** Rows with a value under another key than the current one, counted at the start. */
  before: number;
  /** Rows re-sealed (0 in a dry run). */
  changed: number;
  /** Rows still under another key at the end. */
  remaining: number;
  batches: number;
  passes: number;
}

export interface RotateDataKeyResult {
  /** The data key every value is now sealed with (the first configured). */
  keyId: string;
  dryRun: boolean;
  tables: TableRotation[];
  changed: number;
  remaining: number;
  durationMs: number;
  /** `KEY_ROTATION_INCOMPLETE` when rows are left under an older key (never in a dry run). */
  error?: JeexDbError;
}

export const DEFAULT_BATCH_SIZE = 500;

/**
 * The error of a rotation that left rows under an older key: resumable, so the hint is to run it
 * again. Conflicts (blind index only) need a person to remove one of two users first.
 */
export function rotationIncomplete(kind: 'data' | 'blind-index', remaining: number, conflicts = 0): JeexDbError {
  const what = kind === 'data' ? 'value(s) are still sealed with an older data key' : 'email hash(es) are still under an older blind-index key';
  return new JeexDbError('KEY_ROTATION_INCOMPLETE', `the key rotation is incomplete: ${remaining} ${what}`, {
    hint:
      `Rows locked throughout, or written meanwhile by a process that does not have the new key first, are left: run the rotation again (\`jeex-db keys rotate${kind === 'data' ? '' : ' --blind-index'}\`).` +
      (conflicts > 0 ? ` ${conflicts} row(s) hold an email another user holds under the new key: remove one of each pair (listed in conflicts), then rerun.` : ''),
    context: { kind, remaining, ...(conflicts > 0 ? { conflicts } : {}) },
  });
}
export const DEFAULT_MAX_PASSES = 10;

/**
 * Re-seal every encrypted value (src/schema/sensitive.ts) that is not under the cipher's current
 * data key, in batches ordered by id: each batch locks its rows (`FOR UPDATE SKIP LOCKED`, so the
 * application is never blocked behind it), opens them with whichever configured key sealed them,
 * seals them with the current key and commits. The application keeps reading throughout, since
 * its cipher holds both keys (JEEX_DATA_KEYS="new,old"). Resumable: a rerun does only what is
 * left. The old key may be removed once `remaining` is 0.
 *
 * Every re-sealed row is an UPDATE, so its `updated_at` moves (the trigger of migration 0001).
 *
 * @example
 * const cipher = loadColumnCipher({ JEEX_DATA_KEYS: `${next},${old}`, JEEX_BLIND_INDEX_KEY: bi });
 * const result = await rotateDataKey(sql, cipher, { batchSize: 1000 });
 * result.remaining; // 0: every row is under the new key
 * result.error?.code; // 'KEY_ROTATION_INCOMPLETE' when rows are left: run it again
 */
export async function rotateDataKey(sql: Sql, cipher: ColumnCipher, options: RotateOptions = {}): Promise<RotateDataKeyResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const keyId = cipher.dataKeyId;
  const tables: TableRotation[] = [];
  for (const [table, columns] of encryptedColumns()) {
    const stale = columns.map((column) => `split_part("${column}", '.', 2) <> $1`).join(' OR ');
    const count = async () => Number((await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM "${table}" WHERE ${stale}`, [keyId]))[0]?.n ?? 0);
    const before = await count();
    if (options.dryRun || before === 0) {
      tables.push({ table, columns, before, changed: 0, remaining: before, batches: 0, passes: 0 });
      continue;
    }
    const list = columns.map((column) => `"${column}"`).join(', ');
    const select = `SELECT id, ${list} FROM "${table}" WHERE id > $2 AND (${stale}) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`;
    const update =
      `UPDATE "${table}" AS t SET ${columns.map((column) => `"${column}" = v."${column}"`).join(', ')} ` +
      `FROM unnest($1::uuid[], ${columns.map((_, i) => `$${i + 2}::text[]`).join(', ')}) AS v(id, ${list}) WHERE t.id = v.id`;
    let done = 0;
    const outcome = await inPasses(
      { batchSize, maxPasses: options.maxPasses ?? DEFAULT_MAX_PASSES, ...(options.signal ? { signal: options.signal } : {}) },
      (after) =>
        sql.begin(async (tx) => {
          const rows = await tx.unsafe<Record<string, string>[]>(select, [keyId, after, batchSize]);
          const last = rows[rows.length - 1];
          if (!last) return { lastId: undefined, changed: 0 };
          const ids = rows.map((row) => row.id as string);
          const values = columns.map((column) =>
            rows.map((row) => {
              const sealed = Sealed.parse(row[column] as string, `${table}.${column} of row ${row.id}`);
              if (cipher.isCurrent(sealed)) return sealed.envelope;
              const id = row.id as string;
              const where: ColumnId = `${table}.${column}`;
              return cipher.seal(cipher.open(sealed, where, id), where, id).envelope;
            }),
          );
          await tx.unsafe(update, [ids, ...values]);
          done += rows.length;
          options.onProgress?.({ table, done, total: before });
          return { lastId: last.id, changed: rows.length };
        }),
      count,
    );
    tables.push({ table, columns, before, changed: outcome.done, remaining: outcome.remaining, batches: outcome.batches, passes: outcome.passes });
  }
  const remaining = tables.reduce((sum, t) => sum + t.remaining, 0);
  return {
    keyId,
    dryRun: Boolean(options.dryRun),
    tables,
    changed: tables.reduce((sum, t) => sum + t.changed, 0),
    remaining,
    durationMs: Math.round(performance.now() - started),
    ...(!options.dryRun && remaining > 0 ? { error: rotationIncomplete('data', remaining) } : {}),
  };
}
