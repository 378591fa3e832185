import { stripComments } from './sql-split.ts';

export interface Classification {
  /** Must run outside a transaction block. */
  nonTransactional: boolean;
  /** Why, in words, when it must. */
  reason?: string;
  /** For CREATE INDEX CONCURRENTLY: the index it builds (to clean up an INVALID leftover). */
  concurrentIndex?: { name: string; schema?: string };
}

const rules: { pattern: RegExp; reason: string }[] = [
  { pattern: /^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b/i, reason: 'CREATE INDEX CONCURRENTLY cannot run in a transaction' },
  { pattern: /^\s*DROP\s+INDEX\s+CONCURRENTLY\b/i, reason: 'DROP INDEX CONCURRENTLY cannot run in a transaction' },
  { pattern: /^\s*REINDEX\b[^;]*\bCONCURRENTLY\b/i, reason: 'REINDEX CONCURRENTLY cannot run in a transaction' },
  { pattern: /^\s*REINDEX\s+(\([^)]*\)\s*)?(DATABASE|SYSTEM)\b/i, reason: 'REINDEX DATABASE/SYSTEM cannot run in a transaction' },
  { pattern: /^\s*VACUUM\b/i, reason: 'VACUUM cannot run in a transaction' },
  { pattern: /^\s*(CREATE|DROP)\s+DATABASE\b/i, reason: 'CREATE/DROP DATABASE cannot run in a transaction' },
  { pattern: /^\s*ALTER\s+SYSTEM\b/i, reason: 'ALTER SYSTEM cannot run in a transaction' },
  { pattern: /^\s*(CREATE|DROP)\s+TABLESPACE\b/i, reason: 'CREATE/DROP TABLESPACE cannot run in a transaction' },
  { pattern: /^\s*(CREATE|DROP|ALTER)\s+SUBSCRIPTION\b/i, reason: 'subscriptions cannot be changed in a transaction' },
];

const indexName = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))(?:\.(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*)))?/i;

/** A DO block or procedure body that commits: it manages its own transactions (batched backfills). */
function commitsInside(text: string): boolean {
  return /^\s*(DO|CALL)\b/i.test(text) && /\bCOMMIT\b/i.test(text);
}

/**
 * Whether a statement must run outside a transaction block. Detection is by statement kind (what
 * PostgreSQL itself refuses inside BEGIN ... COMMIT), ignoring comments.
 */
export function classifyStatement(sql: string): Classification {
  const text = stripComments(sql);
  for (const rule of rules) {
    if (rule.pattern.test(text)) {
      const match = indexName.exec(text);
      if (match) {
        const first = (match[1] ?? match[2] ?? '').replaceAll('""', '"');
        const second = match[3] ?? match[4];
        const concurrentIndex = second ? { schema: first, name: second.replaceAll('""', '"') } : { name: first };
        return { nonTransactional: true, reason: rule.reason, concurrentIndex };
      }
      return { nonTransactional: true, reason: rule.reason };
    }
  }
  // PL/pgSQL may COMMIT inside DO/CALL only outside a transaction block.
  if (commitsInside(sql)) return { nonTransactional: true, reason: 'a DO/CALL block that COMMITs (a batched backfill) manages its own transactions' };
  return { nonTransactional: false };
}
