/** What `synchronous_standby_names` asks for: how many standbys must confirm each commit, chosen how. */
export interface SynchronousRule {
  /** `first`: the first `count` connected standbys in list order; `any`: any `count` of them (quorum). */
  method: 'first' | 'any';
  count: number;
  /** The standbys' names as listed (`*` matches any standby). */
  names: string[];
}

/**
 * Read `synchronous_standby_names` in PostgreSQL's grammar: `FIRST n (a, b)`, `ANY n (a, b)`,
 * `n (a, b)` (FIRST), or a bare list `a, b` (FIRST 1). Names may be double-quoted. Empty (no
 * synchronous replication) or unreadable: undefined.
 *
 * @example
 * synchronousRule('ANY 1 (standby_a, "Standby B")'); // { method: 'any', count: 1, names: ['standby_a', 'Standby B'] }
 * synchronousRule('standby_a');                      // { method: 'first', count: 1, names: ['standby_a'] }
 * synchronousRule('');                               // undefined
 */
export function synchronousRule(setting: string): SynchronousRule | undefined {
  const text = setting.trim();
  if (text === '') return undefined;
  const counted = /^(?:(any|first)\s+)?(\d+)\s*\(([\s\S]*)\)$/i.exec(text);
  if (counted) {
    const names = splitNames(counted[3] ?? '');
    if (!names) return undefined;
    return { method: counted[1]?.toLowerCase() === 'any' ? 'any' : 'first', count: Number(counted[2]), names };
  }
  if (/^(any|first)\b/i.test(text) && /\(/.test(text)) return undefined;
  const names = splitNames(text);
  return names ? { method: 'first', count: 1, names } : undefined;
}

/** `a, "b c", *` → ['a', 'b c', '*']; undefined for an empty name or an unclosed quote. */
function splitNames(list: string): string[] | undefined {
  const token = /\s*("(?:[^"]|"")*"|[^,"\s]+)\s*(,|$)/y;
  const names: string[] = [];
  for (;;) {
    const match = token.exec(list);
    if (!match) return undefined;
    const name = match[1] as string;
    names.push(name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name);
    if (match[2] === '') return token.lastIndex >= list.length ? names : undefined;
  }
}
