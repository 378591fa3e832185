import { stripComments } from './sql-split.ts';

/**
 * A migration file split the way drizzle-orm splits it (`--> statement-breakpoint`), with each
 * statement's position in the file so an error can name its line and column.
 */
export interface Statement {
  /** 0-based index within the file. */
  index: number;
  /** The text sent to the server (as drizzle-orm would send it). */
  sql: string;
  /** Offset of `sql` in the file text, and its 1-based line/column there. */
  offset: number;
  line: number;
  column: number;
}

export const BREAKPOINT = '--> statement-breakpoint';

/** Split a file into statements; blank or comment-only chunks are dropped (nothing to run). */
export function splitStatements(text: string, breakpoints = true): Statement[] {
  const chunks: { sql: string; offset: number }[] = [];
  if (breakpoints) {
    let offset = 0;
    for (const part of text.split(BREAKPOINT)) {
      chunks.push({ sql: part, offset });
      offset += part.length + BREAKPOINT.length;
    }
  } else {
    chunks.push({ sql: text, offset: 0 });
  }
  const statements: Statement[] = [];
  for (const chunk of chunks) {
    if (stripComments(chunk.sql).trim() === '') continue;
    // Start at the statement itself, past blank lines and leading `--` comment lines (directives,
    // explanations), so its line and column point at SQL.
    const lead = /^(?:\s*--[^\n]*(?:\n|$))*\s*/.exec(chunk.sql)?.[0].length ?? 0;
    const offset = chunk.offset + lead;
    const { line, column } = lineColumn(text, offset);
    statements.push({ index: statements.length, sql: chunk.sql.slice(lead), offset, line, column });
  }
  return statements;
}

/** 1-based line and column of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/**
 * Where a server error points, in file terms: PostgreSQL's `position` is a 1-based character
 * index into the statement text.
 */
export function errorLocation(text: string, statement: Statement, position?: number): { line: number; column: number } {
  if (!position || position < 1) return { line: statement.line, column: statement.column };
  return lineColumn(text, statement.offset + [...statement.sql].slice(0, position - 1).join('').length);
}

/** A few lines of the file around `line`, numbered, with a caret under `column`. */
export function excerpt(text: string, line: number, column: number, context = 2): string {
  const lines = text.split('\n');
  const from = Math.max(1, line - context);
  const to = Math.min(lines.length, line + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    out.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
    if (n === line) out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, column - 1))}^`);
  }
  return out.join('\n');
}
