import type { Sql, TransactionSql } from 'postgres';
import { maskSecrets } from '../../db/url.ts';
import { translateDbError } from '../../db/translate-error.ts';
import { withTimeout as settleWithin } from '../../core/timeout.ts';

/** A check (or the database) did not answer within its time. */
export class HealthTimeout extends Error {
  override readonly name = 'HealthTimeout';
  constructor(readonly what: string, readonly ms: number) {
    super(`${what} did not answer within ${ms} ms`);
  }
}

/** Resolve with `promise`, or reject with HealthTimeout after `ms`. The loser is left to settle unobserved. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return settleWithin(promise, ms, () => new HealthTimeout(what, ms));
}

/**
 * Run `fn` in a READ ONLY transaction whose statements the server cancels after `ms`
 * (`SET LOCAL statement_timeout`, which also works behind PgBouncer in transaction mode), and
 * give up on the client side shortly after, for a connection that hangs altogether.
 */
export function boundedRead<T>(sql: Sql, ms: number, what: string, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
  const work = sql.begin('read only', async (tx) => {
    await tx.unsafe(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(ms))}`);
    return fn(tx);
  }) as Promise<T>;
  return withTimeout(work, ms + 250, what);
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);

/**
 * Sentences about an error for a check's `output` (what happened, then the hint when there is
 * one), passwords masked, no DETAIL or parameters.
 */
export function describeError(error: unknown): { text: string; hinted: boolean } {
  if (error instanceof HealthTimeout) return { text: sentence(error.message), hinted: false };
  if (sqlStateOf(error) === '57014') return { text: 'it was cancelled by statement_timeout (the health check time limit).', hinted: false };
  const translated = translateDbError(error);
  const hint = translated.hint && !translated.message.includes(translated.hint) ? ` ${sentence(translated.hint)}` : '';
  return { text: maskSecrets(`${sentence(translated.message)}${hint}`), hinted: hint !== '' };
}
