import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LockStallFigures } from '../../bench/lock-stall.ts';
import { parseJson, reachableTempDir, run, ROOT } from '../helpers/cli.ts';

// The lock-stall bench (issue 17, finding 4) still works, on a short reader: the old defaults
// stall the writer for about the reader's length (one 5 s try outlasts a 4 s reader), the new
// ones stay near 1 s per insert and the migration goes through both times.

describe('npm run bench -- --only locks (CI smoke run)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await reachableTempDir('jeex-bench-locks-');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the old and the new defaults against a 4 s reader and writes the figures', { timeout: 180_000 }, async () => {
    const out = join(dir, 'locks.json');
    const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--only', 'locks', '--reader-seconds', '4', '--json', '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    const { locks } = parseJson<{ locks: LockStallFigures }>(result);
    expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({ locks: { readerSeconds: 4 } });
    const [old, fresh] = locks.runs;
    expect(old).toMatchObject({ label: 'old defaults', lockTimeoutMs: 5000, retries: 3, outcome: { applied: true } });
    expect(fresh).toMatchObject({ label: 'new defaults', lockTimeoutMs: 1000, outcome: { applied: true } });
    expect(old?.writer.maxMs).toBeGreaterThan(2500);
    expect(fresh?.writer.maxMs).toBeLessThan(1500);
    expect(fresh?.writer.stallsOver500Ms).toBeGreaterThan(0);
    expect(fresh?.writer.errors).toBe(0);
    expect(fresh?.finishedAfterS).toBeGreaterThanOrEqual(fresh?.readerEndedAfterS ?? Infinity);
    expect(locks.targets.newStallUnder1500ms.pass).toBe(true);
    expect(result.stderr).toMatch(/PASS new defaults: the migration went through/);
  });
});
