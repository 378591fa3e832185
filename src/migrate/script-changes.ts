import { skipNonCode, stripComments } from './sql-split.ts';
import { splitStatements } from './statements.ts';

/** One statement that differs between the applied text and the file now. */
export interface StatementChange {
  /** The statement as applied (absent: added since). */
  before?: string;
  /** The statement in the file now (absent: removed since). */
  after?: string;
}

/**
 * How an applied migration's file changed since it ran. `cosmetic`: comments, whitespace or the
 * case of keywords only (the server would run the same statements); `changed`: the statements
 * differ; `unverifiable`: the ledger kept no text to compare with (rows written before it did).
 */
export interface ScriptEdit {
  migration: string;
  verdict: 'same' | 'cosmetic' | 'changed' | 'unverifiable';
  changes: StatementChange[];
}

/**
 * The tokens of a statement as the server reads them: comments and whitespace dropped, unquoted
 * words lower-cased (PostgreSQL folds them), string literals, quoted identifiers and dollar-quoted
 * bodies kept exactly (a change inside a function body is a change, even in a comment there).
 */
export function statementTokens(sql: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    // Comments, 'strings' (E'...' too), "identifiers" and $tag$ bodies, read as the splitter reads them.
    const next = skipNonCode(sql, i);
    if (next !== undefined) {
      if (!sql.startsWith('--', i) && !sql.startsWith('/*', i)) out.push(sql.slice(i, next));
      i = next;
      continue;
    }
    const rest = sql.slice(i);
    const word = /^[A-Za-z0-9_$]+/.exec(rest);
    const operator = word ? undefined : /^[+\-*/<>=~!@#%^&|`?]+/.exec(rest);
    const token = word?.[0].toLowerCase() ?? operator?.[0] ?? ch;
    out.push(token);
    i += token.length;
  }
  if (out.at(-1) === ';') out.pop();
  return out;
}

/** A statement shown in a warning: comments out, whitespace collapsed, long ones cut. */
export function shown(sql: string): string {
  const text = stripComments(sql).replace(/\s+/g, ' ').trim();
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Compare the text a migration had when it was applied with its file now, statement by
 * statement (the longest common subsequence of the normalised statements; a removed statement
 * followed by an added one is reported as one change).
 *
 * @example
 * compareScripts('0005_x', 'ALTER TABLE t ALTER COLUMN c TYPE integer;', '-- widen\nALTER TABLE t ALTER COLUMN c TYPE bigint;').verdict; // 'changed'
 */
export function compareScripts(migration: string, applied: string | null | undefined, now: string): ScriptEdit {
  if (applied === null || applied === undefined) return { migration, verdict: 'unverifiable', changes: [] };
  if (applied === now) return { migration, verdict: 'same', changes: [] };
  const before = splitStatements(applied).map((s) => ({ sql: s.sql, key: statementTokens(s.sql).join(' ') })).filter((s) => s.key !== '');
  const after = splitStatements(now).map((s) => ({ sql: s.sql, key: statementTokens(s.sql).join(' ') })).filter((s) => s.key !== '');
  // lcs[i][j]: the common length of before[i..] and after[j..].
  const lcs = Array.from({ length: before.length + 1 }, () => new Array<number>(after.length + 1).fill(0));
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      lcs[i]![j] = before[i]?.key === after[j]?.key ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, lcs[i]?.[j + 1] ?? 0);
    }
  }
  const changes: StatementChange[] = [];
  const removed: string[] = [];
  const added: string[] = [];
  const flush = () => {
    while (removed.length > 0 || added.length > 0) {
      const was = removed.shift();
      const is = added.shift();
      changes.push({ ...(was !== undefined ? { before: shown(was) } : {}), ...(is !== undefined ? { after: shown(is) } : {}) });
    }
  };
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    if (i < before.length && j < after.length && before[i]?.key === after[j]?.key) {
      flush();
      i++;
      j++;
    } else if (j >= after.length || (i < before.length && (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      removed.push(before[i]?.sql ?? '');
      i++;
    } else {
      added.push(after[j]?.sql ?? '');
      j++;
    }
  }
  flush();
  return { migration, verdict: changes.length === 0 ? 'cosmetic' : 'changed', changes };
}

/** The changes in words: `statement was "…", now "…"`. */
export function describeChanges(edit: ScriptEdit): string {
  return edit.changes
    .map((c) => (c.before && c.after ? `\`${c.before}\` is now \`${c.after}\`` : c.before ? `\`${c.before}\` was removed` : `\`${c.after ?? ''}\` was added`))
    .join('; ');
}
