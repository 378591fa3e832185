import { translateDbError } from '../../src/db/translate-error.ts';

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
