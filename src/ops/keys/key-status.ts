import type { Sql } from 'postgres';
import { sensitiveColumns } from '../../schema/sensitive.ts';
import type { ColumnCipher } from '../../crypto/column-cipher.ts';

export interface KeyUse {
  keyId: string;
  rows: number;
  /** `current`: the configured key new values use; `configured`: an older configured key; `unknown`: not configured (unreadable). Absent without a cipher. */
  state?: 'current' | 'configured' | 'unknown';
}

export interface ColumnKeys {
  table: string;
  column: string;
  /** `data`: sealed values (data keys); `blind-index`: HMACs (blind-index keys). */
  kind: 'data' | 'blind-index';
  keys: KeyUse[];
}

export interface KeyStatusResult {
  columns: ColumnKeys[];
  /** The configured key ids, when a cipher was given (the current one first). */
  configured?: { data: string[]; blindIndex: string[] };
  /** Rows whose value is not under the current key: what `keys rotate` (or `--blind-index`) would do. */
  pending?: { data: number; blindIndex: number };
  /** Key ids in use that are not configured: those values cannot be read (or looked up). */
  unknownKeys?: string[];
}

/**
 * How many values of each sensitive column are under each key id (read from the envelopes and
 * blind indexes: no key needed). With the cipher, each key id is marked current, configured or
 * unknown, and the rows a rotation would still touch are counted.
 *
 * @example
 * const status = await keyStatus(sql, cipher);
 * status.pending?.data; // 0 once `keys rotate` is done: the old key can go
 */
export async function keyStatus(sql: Sql, cipher?: ColumnCipher): Promise<KeyStatusResult> {
  const columns: ColumnKeys[] = [];
  for (const c of sensitiveColumns) {
    const kind = c.protection === 'encrypted' ? 'data' : 'blind-index';
    const expression = kind === 'data' ? `split_part("${c.column}", '.', 2)` : `encode(substring("${c.column}" FROM 1 FOR 4), 'hex')`;
    const rows = await sql.unsafe<{ key_id: string; rows: string }[]>(`SELECT ${expression} AS key_id, count(*) AS rows FROM "${c.table}" GROUP BY 1 ORDER BY 2 DESC, 1`);
    const configured = cipher ? (kind === 'data' ? cipher.dataKeyIds : cipher.blindIndexKeyIds) : undefined;
    columns.push({
      table: c.table,
      column: c.column,
      kind,
      keys: rows.map((row) => ({
        keyId: row.key_id,
        rows: Number(row.rows),
        ...(configured ? { state: row.key_id === configured[0] ? ('current' as const) : configured.includes(row.key_id) ? ('configured' as const) : ('unknown' as const) } : {}),
      })),
    });
  }
  if (!cipher) return { columns };
  // A row counts once per kind even when several of its columns are stale.
  const pendingRows = async (kind: 'data' | 'blind-index') => {
    const stale = sensitiveColumns
      .filter((c) => (c.protection === 'encrypted') === (kind === 'data'))
      .map((c) => ({ table: c.table, test: kind === 'data' ? `split_part("${c.column}", '.', 2) <> $1` : `encode(substring("${c.column}" FROM 1 FOR 4), 'hex') <> $1` }));
    let total = 0;
    for (const table of new Set(stale.map((s) => s.table))) {
      const where = stale.filter((s) => s.table === table).map((s) => s.test).join(' OR ');
      const [row] = await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM "${table}" WHERE ${where}`, [kind === 'data' ? cipher.dataKeyId : cipher.blindIndexKeyId]);
      total += Number(row?.n ?? 0);
    }
    return total;
  };
  const unknownKeys = [...new Set(columns.flatMap((c) => c.keys.filter((k) => k.state === 'unknown').map((k) => k.keyId)))];
  return {
    columns,
    configured: { data: cipher.dataKeyIds, blindIndex: cipher.blindIndexKeyIds },
    pending: { data: await pendingRows('data'), blindIndex: await pendingRows('blind-index') },
    unknownKeys,
  };
}
