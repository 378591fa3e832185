import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGBOUNCER_DIRS, pgbouncerAbsent, searchPgbouncer } from '../../src/ops/pooler/binary.ts';

// What `up` says when there is no PgBouncer: what is missing, and how to get it.

describe('pgbouncerAbsent', () => {
  it('a machine without it: not installed, where it looked, the OS packages and --no-pooler', () => {
    const { reason, hint } = pgbouncerAbsent({ rejected: [] });
    expect(reason).toBe(`PgBouncer is not installed (no pgbouncer in PATH, ${PGBOUNCER_DIRS.join(', ')}): the app URL points straight at PostgreSQL, without connection pooling`);
    expect(hint).toBe(
      'To pool connections, install PgBouncer, an OS package (`sudo apt-get install -y pgbouncer` on Debian/Ubuntu, `brew install pgbouncer` on macOS), then run `jeex-db up` again; or go without it: `jeex-db up --no-pooler`.',
    );
  });

  it('a pgbouncer that does not work: names the file and why', () => {
    const { reason } = pgbouncerAbsent({ rejected: [{ path: '/usr/sbin/pgbouncer', reason: 'not executable' }] });
    expect(reason).toContain('no working pgbouncer in PATH');
    expect(reason).toContain('/usr/sbin/pgbouncer: not executable');
  });

  it('JEEX_PGBOUNCER_BIN that is not one: says so, and how to fix the variable', () => {
    const { reason, hint } = pgbouncerAbsent({ fromEnv: '/opt/x/pgbouncer', rejected: [{ path: '/opt/x/pgbouncer', reason: 'no such file' }] });
    expect(reason).toMatch(/^JEEX_PGBOUNCER_BIN=\/opt\/x\/pgbouncer is not a working pgbouncer \(no such file\): the app URL points straight at PostgreSQL/);
    expect(hint).toMatch(/^Point JEEX_PGBOUNCER_BIN at the pgbouncer binary, or unset it/);
    expect(hint).toContain('sudo apt-get install -y pgbouncer');
  });
});

describe('searchPgbouncer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jeex-pgb-search-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('JEEX_PGBOUNCER_BIN at a missing file: nothing found, the file rejected as missing', async () => {
    const path = join(dir, 'missing', 'pgbouncer');
    expect(await searchPgbouncer({ JEEX_PGBOUNCER_BIN: path })).toEqual({ fromEnv: path, rejected: [{ path, reason: 'no such file' }] });
  });

  it('a program that is not PgBouncer: rejected with what its --version said', async () => {
    const path = join(dir, 'pgbouncer');
    await writeFile(path, '#!/bin/sh\necho "not me" >&2\nexit 3\n');
    await chmod(path, 0o755);
    const search = await searchPgbouncer({ JEEX_PGBOUNCER_BIN: path });
    expect(search.binary).toBeUndefined();
    expect(search.rejected).toEqual([{ path, reason: `\`${path} --version\` exited with 3: not me` }]);
  });

  it('a directory named pgbouncer on PATH is rejected, not thrown', async () => {
    const pathDir = join(dir, 'bin');
    await mkdir(join(pathDir, 'pgbouncer'), { recursive: true });
    const search = await searchPgbouncer({ JEEX_PGBOUNCER_BIN: join(pathDir, 'pgbouncer') });
    expect(search.binary).toBeUndefined();
    expect(search.rejected[0]?.reason).toMatch(/--version` failed: /);
  });

  it('a fake PgBouncer that prints a version is found, with its version', async () => {
    const path = join(dir, 'fake-pgbouncer');
    await writeFile(path, '#!/bin/sh\necho "PgBouncer 1.23.1"\n');
    await chmod(path, 0o755);
    expect((await searchPgbouncer({ JEEX_PGBOUNCER_BIN: path })).binary).toEqual({ path, version: '1.23.1', major: 1, minor: 23 });
  });
});
