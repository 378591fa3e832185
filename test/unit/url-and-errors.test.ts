import { describe, expect, it } from 'vitest';
import { JeexDbError } from '../../src/core/errors.ts';
import { exitCodeFor } from '../../src/cli/exit-codes.ts';
import { brokeInFlight } from '../../src/db/gated-sql.ts';
import { poolerConnectionError, translateDbError, writeOutcomeUnknown } from '../../src/db/translate-error.ts';
import { maskSecrets, maskUrl } from '../../src/db/url.ts';

describe('maskUrl / maskSecrets', () => {
  it('hides the password and keeps the rest', () => {
    expect(maskUrl('postgres://app:s3cret@127.0.0.1:5418/jeex')).toBe('postgres://app:***@127.0.0.1:5418/jeex');
    expect(maskUrl('postgres://app@host/db')).toBe('postgres://app@host/db');
    expect(maskSecrets('failed for postgresql://u:pw@h/d and token abcd1234', ['abcd1234'])).toBe('failed for postgresql://u:***@h/d and token ***');
  });
});

describe('JeexDbError', () => {
  it('keeps DETAIL (which may hold personal data) and the cause out of JSON', () => {
    const error = new JeexDbError('UNIQUE_VIOLATION', 'users_email_hash_unique: a user with this email already exists', {
      detail: 'Key (lower(email))=(ada@example.com) already exists.',
      cause: { parameters: ['ada@example.com'] },
      constraint: 'users_email_hash_unique',
    });
    expect(error.detail).toContain('ada@example.com');
    expect(JSON.stringify(error)).not.toContain('ada@example.com');
    expect(Object.keys(error)).not.toContain('detail');
    expect(error.toJSON()).toMatchObject({ code: 'UNIQUE_VIOLATION', constraint: 'users_email_hash_unique' });
  });

  it('translates socket errors into CONNECTION_FAILED with a next step', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 1 });
    const translated = translateDbError(refused);
    expect(translated.code).toBe('CONNECTION_FAILED');
    expect(translated.message).toBe('cannot reach PostgreSQL at 127.0.0.1:1 (ECONNREFUSED)');
    expect(translated.hint).toMatch(/jeex-db up|DATABASE_URL/);
  });

  it('finds the driver error under wrappers and passes JeexDbErrors through', () => {
    const pg = { code: '23514', severity: 'ERROR', message: 'new row violates check constraint', constraint_name: 'projects_current_step_range', table_name: 'projects' };
    const wrapped = new Error('Failed query: insert ... params: secret', { cause: pg });
    const translated = translateDbError(wrapped);
    expect(translated).toMatchObject({ code: 'CHECK_VIOLATION', constraint: 'projects_current_step_range', table: 'projects', columns: ['current_step'] });
    expect(translated.message).toBe("projects_current_step_range: current_step must be between 1 and 4 (the wizard's four steps)");
    expect(translated.message).not.toContain('secret');
    const own = new JeexDbError('VERSION_CONFLICT', 'x');
    expect(translateDbError(own)).toBe(own);
  });
});

describe('JeexDbError under util.inspect (console.log, loggers)', () => {
  it('shows code and constraint but neither the cause nor DETAIL', async () => {
    const { inspect } = await import('node:util');
    const hash = `\\x0123abcd${'ab'.repeat(32)}`;
    const pg = { code: '23505', severity: 'ERROR', message: 'duplicate key', detail: `Key (email_hash)=(${hash}) already exists.`, constraint_name: 'users_email_hash_unique', table_name: 'users', parameters: ['ada@example.com'] };
    const translated = translateDbError(new Error('Failed query: params: ada@example.com', { cause: pg }));
    const shown = inspect(translated, { depth: 10 });
    expect(shown).toContain('users_email_hash_unique: a user with this email already exists');
    expect(shown).toContain("code: 'UNIQUE_VIOLATION'");
    expect(shown).not.toContain('ada@example.com');
    expect(shown).not.toContain(hash);
    expect(translated.detail).toContain(hash);
  });
});

describe("PgBouncer's own errors", () => {
  // The shape PgBouncer 1.18 sends (test/integration/pgbouncer.test.ts provokes the real ones):
  // SQLSTATE 08P01, a fixed text, and only the localized severity (postgres.js: severity_local).
  const fromPgbouncer = (message: string, code = '08P01') => Object.assign(new Error(message), { name: 'PostgresError', code, severity_local: 'FATAL' });

  it('tells them apart by their text and says what to do', () => {
    const cases: [string, string, RegExp][] = [
      ['query_wait_timeout', 'POOL_TIMEOUT', /default_pool_size|query_wait_timeout/],
      ['no more connections allowed (max_client_conn)', 'TOO_MANY_CONNECTIONS', /max_client_conn/],
      ['server login has been failing, try again later (server_login_retry)', 'CONNECTION_FAILED', /pgbouncer\.log/],
      // Older PgBouncers' text for the same situation.
      ['pgbouncer cannot connect to server', 'CONNECTION_FAILED', /pgbouncer\.log/],
      ['unsupported startup parameter: statement_timeout', 'INVALID_CONFIG', /ALTER ROLE/],
    ];
    for (const [message, code, hint] of cases) {
      const translated = translateDbError(new Error('Failed query', { cause: fromPgbouncer(message) }));
      expect(translated.code, message).toBe(code);
      expect(translated.sqlState).toBe('08P01');
      expect(translated.message).toContain(`PgBouncer: "${message}"`);
      expect(translated.hint, message).toMatch(hint);
    }
  });

  it('matches the text whatever SQLSTATE a newer PgBouncer uses, and leaves PostgreSQL errors alone', () => {
    expect(translateDbError(fromPgbouncer('query_wait_timeout', '57014')).code).toBe('POOL_TIMEOUT');
    const cancelled = translateDbError({ code: '57014', severity: 'ERROR', message: 'canceling statement due to statement timeout' });
    expect(cancelled.code).toBe('STATEMENT_TIMEOUT');
    const other = translateDbError(fromPgbouncer('server conn crashed?'));
    expect(other.code).toBe('CONNECTION_FAILED');
    expect(other.message).toBe('the connection to PostgreSQL failed: server conn crashed?');
  });

  it('a missing prepared statement (26000) points at prepare: false', () => {
    const translated = translateDbError({ code: '26000', severity: 'ERROR', message: 'prepared statement "a1b2" does not exist' });
    expect(translated.code).toBe('QUERY_FAILED');
    expect(translated.message).toContain('prepared statement "a1b2" does not exist');
    expect(translated.hint).toMatch(/prepare: false/);
  });
});

describe('connections through PgBouncer, and writes whose outcome is unknown', () => {
  const pooler = { host: '127.0.0.1', port: 6418 };
  const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6418`), { code, address: '127.0.0.1', port: 6418 });

  it('a refused or broken connection to PgBouncer names PgBouncer and `jeex-db up`, not PostgreSQL', () => {
    const refused = poolerConnectionError(new Error('Failed query', { cause: socketError('ECONNREFUSED') }), pooler);
    expect(refused?.code).toBe('CONNECTION_FAILED');
    expect(refused?.message).toMatch(/^PgBouncer at 127\.0\.0\.1:6418 is not answering \(ECONNREFUSED\)\. .*`jeex-db up`/);
    expect(refused?.message).not.toMatch(/cannot reach PostgreSQL/);
    expect(poolerConnectionError(socketError('CONNECTION_CLOSED'), pooler)?.message).toMatch(/^the connection to PgBouncer at 127\.0\.0\.1:6418 broke \(CONNECTION_CLOSED\)/);
    // PgBouncer's and PostgreSQL's own errors, and TLS failures, keep their own words.
    const fromServer = Object.assign(new Error('terminating connection due to administrator command'), { name: 'PostgresError', code: '57P01', severity: 'FATAL' });
    expect(poolerConnectionError(fromServer, pooler)).toBeUndefined();
    expect(poolerConnectionError(socketError('DEPTH_ZERO_SELF_SIGNED_CERT'), pooler)).toBeUndefined();
  });

  it('WRITE_OUTCOME_UNKNOWN says the write may have committed and how to find out; exit code 36', () => {
    const error = writeOutcomeUnknown(socketError('CONNECTION_CLOSED'), { operation: 'INSERT', through: pooler });
    expect(error.code).toBe('WRITE_OUTCOME_UNKNOWN');
    expect(error.message).toMatch(/^the connection to PgBouncer at 127\.0\.0\.1:6418 broke after the INSERT was sent and before its answer came \(CONNECTION_CLOSED\): it may have been committed, or not\./);
    expect(error.hint).toMatch(/read whether its change is there first/);
    const commit = writeOutcomeUnknown(Object.assign(new Error('terminating connection due to administrator command'), { name: 'PostgresError', code: '57P01', severity: 'FATAL' }), { operation: 'COMMIT' });
    expect(commit.message).toMatch(/^the connection to PostgreSQL broke after the transaction's COMMIT was sent/);
    expect(commit.sqlState).toBe('57P01');
    expect(exitCodeFor('WRITE_OUTCOME_UNKNOWN')).toBe(36);
  });

  it('which breaks count as "in flight": closed or reset sockets and FATAL 08/57P01, not refusals or logins turned down', () => {
    expect(brokeInFlight(socketError('CONNECTION_CLOSED'))).toBe(true);
    expect(brokeInFlight(socketError('ECONNRESET'))).toBe(true);
    expect(brokeInFlight(Object.assign(new Error('terminating connection due to administrator command'), { name: 'PostgresError', code: '57P01', severity: 'FATAL' }))).toBe(true);
    expect(brokeInFlight(socketError('ECONNREFUSED'))).toBe(false);
    expect(brokeInFlight(Object.assign(new Error('the database system is starting up'), { name: 'PostgresError', code: '57P03', severity: 'FATAL' }))).toBe(false);
    expect(brokeInFlight(Object.assign(new Error('server login has been failing, try again later (server_login_retry)'), { name: 'PostgresError', code: '08P01', severity_local: 'FATAL' }))).toBe(false);
    expect(brokeInFlight(Object.assign(new Error('password authentication failed'), { name: 'PostgresError', code: '28P01', severity: 'FATAL' }))).toBe(false);
    expect(brokeInFlight(Object.assign(new Error('query_wait_timeout'), { name: 'PostgresError', code: '08P01', severity_local: 'FATAL' }))).toBe(false);
  });
});
