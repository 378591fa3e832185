/**
 * The SQL statements inside one chunk of a migration file (the text between two
 * `--> statement-breakpoint` markers, which the runner sends as one query), split at the
 * semicolons PostgreSQL would split at: not inside 'strings' (E'...' with backslash escapes),
 * "identifiers", $tag$ dollar quotes $tag$, -- line comments or nested block comments.
 */
export interface SqlPart {
  /** The statement text, without its terminating semicolon. */
  sql: string;
  /** Offset of `sql` in the chunk. */
  offset: number;
}

/** Where the quoted run that starts at `i` ends (the offset just after it). */
function skipQuoted(text: string, i: number): number {
  const ch = text[i];
  const prev = i > 0 ? (text[i - 1] ?? '') : '';
  if (ch === "'") {
    // E'...' takes backslash escapes; a plain string only doubles the quote.
    const escapes = /[eE]/.test(prev) && !/[\w$]/.test(i > 1 ? (text[i - 2] ?? '') : '');
    let j = i + 1;
    while (j < text.length) {
      if (escapes && text[j] === '\\') j += 2;
      else if (text[j] === "'") {
        if (text[j + 1] === "'") j += 2;
        else return j + 1;
      } else j++;
    }
    return text.length;
  }
  if (ch === '"') {
    let j = i + 1;
    while (j < text.length) {
      if (text[j] === '"') {
        if (text[j + 1] === '"') j += 2;
        else return j + 1;
      } else j++;
    }
    return text.length;
  }
  return i + 1;
}

/** A dollar-quote opener at `i` ($$ or $tag$, not a parameter like $1), or undefined. */
function dollarTag(text: string, i: number): string | undefined {
  if (i > 0 && /[\w$]/.test(text[i - 1] ?? '')) return undefined; // part of an identifier (a$b)
  const match = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(text.slice(i, i + 64));
  return match?.[0];
}

/** Skip comments and quoted runs from `i`; returns the next offset to look at, or undefined at plain text. */
export function skipNonCode(text: string, i: number): number | undefined {
  const two = text.slice(i, i + 2);
  if (two === '--') {
    const end = text.indexOf('\n', i);
    return end === -1 ? text.length : end + 1;
  }
  if (two === '/*') {
    // Block comments nest in PostgreSQL.
    let depth = 1;
    let j = i + 2;
    while (j < text.length && depth > 0) {
      if (text.startsWith('/*', j)) {
        depth++;
        j += 2;
      } else if (text.startsWith('*/', j)) {
        depth--;
        j += 2;
      } else j++;
    }
    return j;
  }
  const ch = text[i];
  if (ch === "'" || ch === '"') return skipQuoted(text, i);
  if (ch === '$') {
    const tag = dollarTag(text, i);
    if (tag) {
      const end = text.indexOf(tag, i + tag.length);
      return end === -1 ? text.length : end + tag.length;
    }
  }
  return undefined;
}

/**
 * The text without its comments: a `--` comment up to its line's end (the newline stays), a
 * (nested) block comment as one space; 'strings', "identifiers" and $tag$ dollar quotes $tag$
 * are kept as they are, a `--` or `/*` inside them too.
 *
 * @example
 * stripComments("ALTER TABLE t ALTER c SET DEFAULT '--x'; -- why"); // "ALTER TABLE t ALTER c SET DEFAULT '--x'; "
 */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const next = skipNonCode(text, i);
    if (next === undefined) {
      out += text[i];
      i++;
    } else if (text.startsWith('--', i)) {
      out += text[next - 1] === '\n' ? '\n' : '';
      i = next;
    } else if (text.startsWith('/*', i)) {
      out += ' ';
      i = next;
    } else {
      out += text.slice(i, next);
      i = next;
    }
  }
  return out;
}

/**
 * The text with each 'string' (E'...' too) and $tag$ dollar quote $tag$ replaced by a marker
 * (`\uE000N\uE000`), and `restore` to put them back: a rewrite of the code around them (case,
 * spacing) then leaves the literals alone. Comments and "identifiers" are code here.
 *
 * @example
 * const { masked, restore } = maskLiterals("SET DEFAULT 'Aa'");
 * restore(masked.toLowerCase()); // "set default 'Aa'"
 */
export function maskLiterals(text: string): { masked: string; restore: (rewritten: string) => string } {
  const literals: string[] = [];
  let masked = '';
  let i = 0;
  while (i < text.length) {
    const next = skipNonCode(text, i);
    const ch = text[i];
    if (next !== undefined && (ch === "'" || ch === '$')) {
      masked += `\uE000${literals.length}\uE000`;
      literals.push(text.slice(i, next));
    } else masked += text.slice(i, next ?? i + 1);
    i = next ?? i + 1;
  }
  return { masked, restore: (rewritten) => rewritten.replace(/\uE000(\d+)\uE000/g, (_, n: string) => literals[Number(n)] ?? '') };
}

/** The offset of the first code in the text (past whitespace and comments); its length when there is none. */
function codeStart(text: string): number {
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('--', i) || text.startsWith('/*', i)) i = skipNonCode(text, i) ?? i + 1;
    else if (/\s/.test(text[i] ?? '')) i++;
    else return i;
  }
  return text.length;
}

/**
 * Split a chunk into its statements; empty ones (only whitespace, comments or a stray `;`) are
 * dropped. `CREATE FUNCTION ... AS $$ ...; ... $$;` stays one statement.
 *
 * @example
 * splitSql('CREATE INDEX CONCURRENTLY a ON t (x);\nCREATE INDEX CONCURRENTLY b ON t (y);').length; // 2
 */
export function splitSql(chunk: string): SqlPart[] {
  const parts: SqlPart[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = chunk.slice(start, end);
    const lead = codeStart(text);
    if (lead < text.length) parts.push({ sql: text.slice(lead).trimEnd(), offset: start + lead });
  };
  while (i < chunk.length) {
    const next = skipNonCode(chunk, i);
    if (next !== undefined) {
      i = next;
      continue;
    }
    if (chunk[i] === ';') {
      push(i);
      start = i + 1;
    }
    i++;
  }
  push(chunk.length);
  return parts;
}
