import type { Sql } from 'postgres';
import { afterEach } from 'vitest';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import type { DbConfigInput } from '../../src/db/config.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { emailHash, testKeys } from './users.ts';

/** The error code a call fails with, translated as an application would see it. */
export async function failure(promise: PromiseLike<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return translateDbError(error).code;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/**
 * Collect what would otherwise end the process: exceptions thrown from timers and promise
 * rejections nobody handles (postgres.js 3.4.9 has both when a connection dies; see
 * src/db/guarded-socket.ts).
 */
export function watchCrashes(): { errors: string[]; stop: () => void } {
  const errors: string[] = [];
  const onError = (error: unknown) => errors.push(String((error as Error | undefined)?.stack ?? error));
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    stop: () => {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

export async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Clients for one test file, closed after each test: `client({ max: 2 })` is the app role on
 * `appUrl` (or `url`) with test-sized timeouts.
 */
export function healingClients(appUrl: () => string): (options: DbConfigInput & { url?: string }) => JeexDb {
  const clients: JeexDb[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close(1)));
  });
  return (options) => {
    const made = createDb({ url: appUrl(), queryTimeout: 10_000, acquireTimeout: 5000, keys: testKeys(), ...options }, {});
    clients.push(made);
    return made;
  };
}

/** How many users rows have this email (the proof a write ran exactly once), by its blind index. */
export async function healingEmail(admin: Sql, email: string): Promise<number> {
  const [row] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${emailHash(email)}`;
  return row?.n ?? -1;
}
