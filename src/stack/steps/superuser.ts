import type postgres from 'postgres';
import { connect } from '../../db/connect.ts';
import { translateDbError } from '../../db/translate-error.ts';

/**
 * Run `work` on a superuser client (one connection, or `max`) that is closed afterwards; a
 * database error becomes a JeexDbError.
 */
export async function withSuperuser<T>(url: string, work: (admin: postgres.Sql) => Promise<T>, options: { max?: number; applicationName?: string; connectTimeoutSeconds?: number } = {}): Promise<T> {
  const admin = connect(url, { max: options.max ?? 1, onnotice: () => {}, ...(options.connectTimeoutSeconds ? { connect_timeout: options.connectTimeoutSeconds } : {}), ...(options.applicationName ? { connection: { application_name: options.applicationName } } : {}) });
  try {
    return await work(admin);
  } catch (error) {
    throw translateDbError(error);
  } finally {
    await admin.end({ timeout: 2 });
  }
}
