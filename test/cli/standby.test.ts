import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/core/codes.ts';
import { localLayout } from '../../src/local/layout.ts';
import { localUrl } from '../../src/local/state.ts';
import { down } from '../../src/stack/up.ts';
import { expectExit, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';
import { freeClusterPort } from '../helpers/ports.ts';

// `jeex-db standby` and `jeex-db promote` end to end, the real binary: a standby made from the
// command line, promoted, and the old primary refused by `up` (exit CLUSTER_SUPERSEDED).

let root: string;
const a = () => join(root, 'a');
const b = () => join(root, 'b');

describe('jeex-db standby / promote', () => {
  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-standby-');
    expectExit(await runCli(['up', '--data-dir', a(), '--port', String(await freeClusterPort()), '--no-pooler', '--detach', '--json']), 0);
  }, 90_000);

  afterAll(async () => {
    for (const dir of [a(), b()]) await down({ dataDir: dir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('refuses bad input before touching anything: --data-dir the primary itself, a name PostgreSQL cannot take', async () => {
    const same = await runCli(['standby', '--data-dir', a(), '--from', a(), '--json']);
    expectExit(same, EXIT.STANDBY_FAILED);
    expect(parseJson<{ error: { message: string } }>(same).error.message).toContain('same directory');
    const badName = await runCli(['standby', '--data-dir', b(), '--from', a(), '--name', 'Standby-B', '--json']);
    expect(badName.code).toBe(EXIT.INVALID_CONFIG);
    const missing = await runCli(['standby', '--data-dir', b(), '--from', join(root, 'nothing'), '--json']);
    expectExit(missing, EXIT.STANDBY_FAILED);
    expect(missing.stdout).toContain('not a jeex-db cluster');
    const deadUrl = await runCli(['standby', '--data-dir', b(), '--from', 'postgres://postgres:secret-pw@127.0.0.1:1/postgres', '--json']);
    expectExit(deadUrl, EXIT.STANDBY_FAILED);
    expect(deadUrl.stdout).toContain("cannot read the primary's data directory");
    expect(deadUrl.stdout + deadUrl.stderr).not.toContain('secret-pw');
  });

  it('makes a streaming standby of a primary given by URL, promotes it (timeline 2), and `up` refuses the old primary naming --reseed', async () => {
    // The primary named by a superuser URL (its data directory read from the server).
    const primaryUrl = localUrl(localLayout(a()), 'superuser', { database: 'postgres' }) ?? '';
    const standby = await runCli(['standby', '--data-dir', b(), '--from', primaryUrl, '--port', String(await freeClusterPort()), '--no-pooler', '--json']);
    expectExit(standby, 0);
    const made = parseJson<{ ok: boolean; how: string; streaming: { status: string }; name: string }>(standby);
    expect(made).toMatchObject({ ok: true, how: 'seeded', streaming: { status: 'streaming' } });

    const human = await runCli(['up', '--data-dir', b(), '--no-pooler', '--detach']);
    expectExit(human, 0);
    expect(human.stdout).toMatch(/replication standby of 127\.0\.0\.1:\d+ as standby_\d+/);

    expectExit(await runCli(['down', '--data-dir', a()]), 0);
    const promoted = await runCli(['promote', '--data-dir', b(), '--json']);
    expectExit(promoted, 0);
    const after = parseJson<{ timeline: number; lsn: string }>(promoted);
    expect(after.timeline).toBe(2);
    expect(after.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

    const again = await runCli(['promote', '--data-dir', b(), '--json']);
    expectExit(again, EXIT.PROMOTE_FAILED);

    const refused = await runCli(['up', '--data-dir', a(), '--no-pooler', '--detach', '--json']);
    expectExit(refused, EXIT.CLUSTER_SUPERSEDED);
    const error = parseJson<{ error: { code: string; hint: string } }>(refused).error;
    expect(error.code).toBe('CLUSTER_SUPERSEDED');
    expect(error.hint).toContain(`jeex-db standby --data-dir ${a()} --from ${b()} --reseed`);
  }, 120_000);
});
