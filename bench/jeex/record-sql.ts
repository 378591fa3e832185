/**
 * Record the statements the package's query functions send, with their parameters and first
 * result row: the pgbench scripts are made from them, so the ceiling runs the same SQL.
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/create-db.ts';
import * as schema from '../../src/schema/index.ts';

export interface RecordedStatement {
  text: string;
  params: unknown[];
  /** Result column names and the first row's values (what a later statement may use). */
  columns: string[];
  row: unknown[] | undefined;
}

export type RecordedStep = RecordedStatement | 'begin' | 'commit';

interface ResultLike extends Array<unknown> {
  columns?: { name: string }[];
}

function tapQuery(query: PromiseLike<unknown> & Record<string, unknown>, text: string, params: unknown[], steps: RecordedStep[]): unknown {
  const proxy: unknown = new Proxy(query, {
    get: (target, prop) => {
      if (prop === 'values') {
        return () => {
          (target.values as () => unknown)();
          return proxy;
        };
      }
      if (prop === 'then') {
        return (onfulfilled?: (value: unknown) => unknown, onrejected?: (reason: unknown) => unknown) =>
          target
            .then((result) => {
              const rows = result as ResultLike;
              const columns = (rows.columns ?? []).map((c) => c.name);
              const first = rows[0];
              const row = first === undefined ? undefined : Array.isArray(first) ? (first as unknown[]) : columns.map((c) => (first as Record<string, unknown>)[c]);
              steps.push({ text, params, columns, row });
              return result;
            })
            .then(onfulfilled, onrejected);
      }
      return Reflect.get(target, prop, target) as unknown;
    },
  });
  return proxy;
}

function recordingSql(sql: Sql, steps: RecordedStep[]): Sql {
  return new Proxy(sql, {
    get: (target, prop, receiver) => {
      if (prop === 'unsafe') {
        return (text: string, params: unknown[] = [], options?: unknown) =>
          tapQuery(target.unsafe(text, params as never[], options as never) as never, text, params, steps);
      }
      if (prop === 'begin') {
        return async (fn: (tx: Sql) => Promise<unknown>) => {
          steps.push('begin');
          const result = await target.begin((tx) => fn(recordingSql(tx as unknown as Sql, steps)));
          steps.push('commit');
          return result;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/**
 * A Drizzle client (the package's configuration: the schema, postgres.js) whose statements are
 * recorded. `take()` returns and clears what was recorded since the last call.
 */
export function recordingDb(url: string): { db: Database; take: () => RecordedStep[]; close: () => Promise<void> } {
  const raw = connect(url, { max: 1, onnotice: () => {} });
  const steps: RecordedStep[] = [];
  const db = drizzle(recordingSql(raw, steps), { schema });
  return {
    db,
    take: () => steps.splice(0),
    close: () => raw.end({ timeout: 2 }),
  };
}
