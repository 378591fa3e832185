import { expect } from 'vitest';
import { JeexDbError } from '../../src/core/errors.ts';
import { translateDbError } from '../../src/db/translate-error.ts';

/** The JeexDbError a call of the package rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(promise: Promise<unknown>): Promise<JeexDbError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(JeexDbError);
    return error as JeexDbError;
  }
  throw new Error('expected the call to be rejected, but it resolved');
}

/** Run raw SQL that the database must refuse, and translate what it threw. */
export async function refusal(statement: Promise<unknown>): Promise<JeexDbError> {
  try {
    await statement;
  } catch (error) {
    return translateDbError(error);
  }
  throw new Error('the statement succeeded, but the database should have refused it');
}
