import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDbConfig } from '../../src/db/config.ts';
import { isJeexDbError } from '../../src/core/errors.ts';

const emptyDir = await mkdtemp(join(tmpdir(), 'jeex-config-'));
afterAll(() => rm(emptyDir, { recursive: true, force: true }));
// No DATABASE_URL, no PG*, and a data directory without a local cluster.
const bare = { JEEX_DB_DATA_DIR: emptyDir };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (isJeexDbError(error, 'INVALID_CONFIG')) return (error.context?.problems as string[]) ?? [];
    throw error;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('resolveDbConfig', () => {
  it('takes options over DATABASE_URL over PG* variables, with documented defaults', () => {
    const env = { ...bare, DATABASE_URL: 'postgres://a:b@db:5432/x', PGHOST: 'other', PGUSER: 'u' };
    expect(resolveDbConfig({ url: 'postgres://o:p@opt:1/y' }, env)).toMatchObject({ url: 'postgres://o:p@opt:1/y', source: 'option' });
    expect(resolveDbConfig({}, env)).toMatchObject({
      url: 'postgres://a:b@db:5432/x',
      source: 'DATABASE_URL',
      max: 10,
      idleTimeout: 300,
      connectTimeout: 10,
      maxLifetime: 1800,
      applicationName: 'jeex-db',
      prepare: true,
    });
  });

  it('builds a URL from libpq PG* variables', () => {
    const config = resolveDbConfig({}, { ...bare, PGHOST: 'h', PGPORT: '6543', PGUSER: 'u', PGPASSWORD: 'p w', PGDATABASE: 'd', PGSSLMODE: 'require' });
    expect(config.source).toBe('PG*');
    const url = new URL(config.url);
    expect([url.hostname, url.port, url.username, decodeURIComponent(url.password), url.pathname, url.searchParams.get('sslmode')]).toEqual([
      'h',
      '6543',
      'u',
      'p w',
      '/d',
      'require',
    ]);
  });

  it('reads pool settings from JEEX_DB_* and lets options override them', () => {
    const env = { ...bare, DATABASE_URL: 'postgres://a@h/d', JEEX_DB_POOL_MAX: '25', JEEX_DB_IDLE_TIMEOUT: '60', JEEX_DB_PREPARE: 'false' };
    expect(resolveDbConfig({}, env)).toMatchObject({ max: 25, idleTimeout: 60, prepare: false });
    // The one grammar of core/units.ts: durations with a unit, booleans as PostgreSQL reads them.
    const withUnits = { ...env, JEEX_DB_IDLE_TIMEOUT: '2min', JEEX_DB_QUERY_TIMEOUT: '30s', JEEX_DB_PREPARE: 'no' };
    expect(resolveDbConfig({}, withUnits)).toMatchObject({ idleTimeout: 120, queryTimeout: 30_000, prepare: false });
    expect(resolveDbConfig({ max: 3, prepare: true }, env)).toMatchObject({ max: 3, prepare: true });
  });

  it('reports every problem at once, naming the variable to fix', () => {
    const problems = problemsOf(() =>
      resolveDbConfig({}, { ...bare, DATABASE_URL: 'mysql://x@h/d', JEEX_DB_POOL_MAX: 'many', JEEX_DB_CONNECT_TIMEOUT: '0', JEEX_DB_PREPARE: 'maybe' }),
    );
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must start with postgres:\/\//);
    expect(problems.join('\n')).toMatch(/JEEX_DB_POOL_MAX must be a whole number from 1 to 1000, got "many"/);
    expect(problems.join('\n')).toMatch(/JEEX_DB_CONNECT_TIMEOUT must be a duration from 1s to 10min \(a plain number is seconds\), got "0"/);
    expect(problems.join('\n')).toMatch(/JEEX_DB_PREPARE must be true or false/);
  });

  it('says how to get a database when none is configured', () => {
    expect(problemsOf(() => resolveDbConfig({}, bare))).toEqual([expect.stringMatching(/set DATABASE_URL .*`npx jeex-db up`/)]);
  });

  it('names the option, not a variable, when an option is wrong, and masks passwords', () => {
    const problems = problemsOf(() => resolveDbConfig({ url: 'not a url:secret@', max: 0 }, bare));
    expect(problems.join('\n')).toMatch(/option url is not a URL/);
    expect(problems.join('\n')).toMatch(/option max must be/);
  });
});
