import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PORT } from '../../src/stack/up.ts';
import { expectExit, parseJson, reachableTempDir, runCli } from '../helpers/cli.ts';

// `npm start` in a second project while the first one's cluster holds 5418 must still work.

function hold(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined)); // someone else holds it: just as good
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

describe('up without --port', () => {
  let root = '';
  let dataDir = '';
  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('takes the next free port for a new cluster when the default is taken, and keeps it', { timeout: 90_000 }, async () => {
    root = await reachableTempDir('jeex-cli-port-');
    dataDir = join(root, 'db');
    const blocker = await hold(DEFAULT_PORT);
    let first: { port: number };
    try {
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--memory', '512MiB']);
      expectExit(result, 0);
      first = parseJson<{ port: number }>(result);
      expect(first.port).toBeGreaterThan(DEFAULT_PORT);
      expect(first.port).toBeLessThanOrEqual(DEFAULT_PORT + 20);
    } finally {
      blocker?.close();
    }
    expectExit(await runCli(['down', '--data-dir', dataDir]), 0);
    // The default may be free now, but the cluster's URLs must not change under its users.
    const again = await runCli(['up', '--data-dir', dataDir, '--detach', '--json', '--memory', '512MiB']);
    expectExit(again, 0);
    expect(parseJson<{ port: number; created: boolean }>(again)).toMatchObject({ port: first.port, created: false });
  });
});
