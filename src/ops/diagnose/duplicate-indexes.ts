/** What the duplicate check needs to know about one index (read by `readIndexes`). */
export interface IndexInfo {
  /** Quoted and schema-qualified: `public.users_email_idx`. */
  name: string;
  /** Its OID: of two identical indexes the later one (higher OID) is the copy. */
  oid: number;
  /** Quoted and schema-qualified table. */
  table: string;
  method: string;
  /** Each column's definition: a column name or an expression (`lower(email)`), keys first. */
  columns: string[];
  /** How many of `columns` are key columns; the rest are INCLUDE columns. */
  keyCount: number;
  /** Operator class, collation and ordering options of each key column. */
  opclasses: string[];
  collations: string[];
  options: string[];
  /** The WHERE clause of a partial index. */
  predicate: string | null;
  unique: boolean;
  primary: boolean;
  /** A constraint (primary key, unique, exclusion, or a foreign key pointing at it) uses it. */
  backsConstraint: boolean;
  valid: boolean;
  bytes: number;
  definition: string;
}

export interface DuplicateIndex {
  /** The index that can go. */
  redundant: IndexInfo;
  /** The index that already does its work. */
  coveredBy: IndexInfo;
  /** `identical`, or `prefix` (btree: its key columns lead the other index). */
  reason: 'identical' | 'prefix';
}

function sameKeyColumn(a: IndexInfo, b: IndexInfo, i: number): boolean {
  return a.columns[i] === b.columns[i] && a.opclasses[i] === b.opclasses[i] && a.collations[i] === b.collations[i] && a.options[i] === b.options[i];
}

function identical(a: IndexInfo, b: IndexInfo): boolean {
  if (a.keyCount !== b.keyCount || a.columns.length !== b.columns.length) return false;
  for (let i = 0; i < a.keyCount; i += 1) if (!sameKeyColumn(a, b, i)) return false;
  const includes = (x: IndexInfo) => x.columns.slice(x.keyCount).sort().join('\u0000');
  return includes(a) === includes(b);
}

/**
 * Whether `big` does everything `small` does. A btree on (a, b) serves every search, ordering
 * and uniqueness-free lookup that a btree on (a) serves, so (a) is redundant, but only when:
 * both are btree; small's key columns are exactly the leading key columns of big, with the same
 * operator class (text_pattern_ops serves LIKE, the default one does not), collation and
 * ordering; small's INCLUDE columns are somewhere in big (index-only scans still work); both
 * have the same predicate (a partial index covers only its rows); and small is not unique
 * (big, being wider, cannot enforce small's uniqueness) unless both are identical. Other
 * methods (hash, GIN, GiST, BRIN) have no prefix rule: only identical ones are duplicates.
 */
export function covers(big: IndexInfo, small: IndexInfo): 'identical' | 'prefix' | undefined {
  if (big.name === small.name || big.table !== small.table || big.method !== small.method) return undefined;
  if ((big.predicate ?? '') !== (small.predicate ?? '')) return undefined;
  if (!big.valid || !small.valid) return undefined;
  if (identical(big, small)) return small.unique && !big.unique ? undefined : 'identical';
  if (big.method !== 'btree' || small.unique) return undefined;
  if (small.keyCount >= big.keyCount) return undefined;
  for (let i = 0; i < small.keyCount; i += 1) if (!sameKeyColumn(small, big, i)) return undefined;
  const bigColumns = new Set(big.columns);
  return small.columns.slice(small.keyCount).every((c) => bigColumns.has(c)) ? 'prefix' : undefined;
}

/**
 * Indexes another index of the same table makes redundant. An index that backs a constraint is
 * never proposed for dropping; of two identical ones, the one without a constraint (else the
 * one created later) goes. Pure: no database.
 */
export function findDuplicateIndexes(indexes: readonly IndexInfo[]): DuplicateIndex[] {
  const found: DuplicateIndex[] = [];
  const dropped = new Set<string>();
  const byTable = new Map<string, IndexInfo[]>();
  for (const index of indexes) byTable.set(index.table, [...(byTable.get(index.table) ?? []), index]);
  for (const group of byTable.values()) {
    // Constraint-backing indexes first, then the older: of two identical ones, the first is kept.
    const ordered = [...group].sort((a, b) => Number(b.backsConstraint) - Number(a.backsConstraint) || a.oid - b.oid);
    for (const small of ordered) {
      if (small.backsConstraint || small.primary) continue;
      for (const big of ordered) {
        if (big === small || dropped.has(big.name)) continue;
        const reason = covers(big, small);
        if (!reason) continue;
        // Of two identical indexes only one goes: the later in `ordered`.
        if (reason === 'identical' && !big.backsConstraint && ordered.indexOf(big) > ordered.indexOf(small)) continue;
        found.push({ redundant: small, coveredBy: big, reason });
        dropped.add(small.name);
        break;
      }
    }
  }
  return found;
}
