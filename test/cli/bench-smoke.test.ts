import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JeexFigures } from '../../bench/jeex.ts';
import type { LegFigures } from '../../bench/jeex/leg.ts';
import { parseJson, reachableTempDir, run, ROOT, type RunResult } from '../helpers/cli.ts';
import { requirePooler, skipOrFail } from '../helpers/skip.ts';

// The JEEX bench still works: a tiny run of every leg (a few seconds each, 4 clients). Timing is
// not checked here (a shared CI machine), only that every leg ran, the JSON has its shape and no
// operation failed.

const BENCH_TIMEOUT = 150_000;
const NODE_LEGS = ['app', 'direct', 'nodePg'] as const;

interface BenchJson {
  jeex: JeexFigures & { durationMs: number };
}

function bench(out: string, durationS: number, env: NodeJS.ProcessEnv = {}, extra: string[] = []): Promise<RunResult> {
  const args = ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--only', 'jeex', '--scale', 'tiny', '--duration', String(durationS), '--clients', '4', '--json', '--out', out, ...extra];
  return run(process.execPath, args, { env: { ...process.env, ...env } });
}

function expectLegRan(leg: LegFigures | undefined): void {
  expect(leg?.unavailable).toBeUndefined();
  expect(leg?.transactions).toBeGreaterThan(0);
  expect(leg?.errors, `errors in ${leg?.label}: ${leg?.errorSamples.join(' | ')}`).toBe(0);
  expect(leg?.tps).toBeGreaterThan(0);
  expect(leg?.latencyMs.p99).toBeGreaterThan(0);
  expect(Object.keys(leg?.operations ?? {}).length).toBeGreaterThan(0);
  for (const value of Object.values(leg?.cpuSeconds ?? {})) expect(Number.isFinite(value)).toBe(true);
  // Other processes' share of the machine during the leg: a percentage, measured.
  expect(leg?.otherCpu.percentOfMachine).toBeGreaterThanOrEqual(0);
  expect(leg?.otherCpu.percentOfMachine).toBeLessThanOrEqual(100);
}

describe('npm run bench -- --only jeex (CI smoke run)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await reachableTempDir('jeex-bench-smoke-');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'seeds a tiny data set and runs every leg without a failed operation; the JSON file equals stdout',
    async (ctx) => {
      requirePooler(ctx, inject('testServer'));
      const out = join(dir, 'result.json');
      const result = await bench(out, 2);
      // 0: every target met, 1: some missed (timings on a tiny run mean nothing); never a crash.
      expect([0, 1], result.stderr).toContain(result.code);
      const json = parseJson<BenchJson>(result);
      expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(json);

      const f = json.jeex;
      expect(f.seed).toMatchObject({ users: 40 });
      expect(f.seed.documentVersions).toBeGreaterThan(f.seed.projects);
      expect(f.workload.map((o) => o.weight).reduce((a, b) => a + b, 0)).toBe(100);
      expect(Object.keys(f.pgbenchScripts).sort()).toEqual(f.workload.map((o) => o.name).sort());
      expect(f.versions.postgres).toMatch(/^18\./);
      for (const leg of NODE_LEGS) {
        expectLegRan(f.capacity[leg]);
        expectLegRan(f.paced[leg]);
        expect(f.paced[leg]?.offeredTps).toBe(f.pacedRate.tps);
      }
      expect(Object.keys(f.targets).sort()).toEqual(['appP95', 'appP99', 'appVsNodePg', 'appVsPgbench', 'directVsPgbench', 'errors']);
      expect(result.stderr).toMatch(/capacity \(closed loop/);
      expect(result.stderr).toMatch(/paced at \d+ tx\/s/);

      if (f.capacity.pgbench.unavailable) return skipOrFail(ctx, `the pgbench legs did not run: ${f.capacity.pgbench.unavailable}`);
      expectLegRan(f.capacity.pgbench);
      expectLegRan(f.capacity.pgbenchPrepared);
      expectLegRan(f.paced.pgbench);
      expect(f.targets.errors?.pass).toBe(true);
      expect(Number.isFinite(f.ratios.appToPgbench)).toBe(true);
    },
    BENCH_TIMEOUT,
  );

  it(
    'without pgbench, says how to install it and still runs the other legs (exit 1, not a crash); --rounds 2 runs each leg twice',
    async (ctx) => {
      requirePooler(ctx, inject('testServer'));
      const out = join(dir, 'no-pgbench.json');
      const result = await bench(out, 1, { JEEX_BENCH_PGBENCH: join(dir, 'no-such-pgbench') }, ['--rounds', '2']);
      expect(result.code, result.stderr).toBe(1);
      const f = parseJson<BenchJson>(result).jeex;
      expect(f.capacity.pgbench.unavailable).toMatch(/apt-get install postgresql-contrib/);
      expect(f.capacity.pgbenchPrepared.unavailable).toMatch(/pgbench/);
      expect(f.paced.pgbench?.unavailable).toMatch(/pgbench/);
      expect(f.targets.errors?.pass).toBe(false);
      for (const leg of NODE_LEGS) {
        expectLegRan(f.capacity[leg]);
        // Both rounds are listed; the leg's figures are one of them (of two, the worse).
        expect(f.capacity[leg].rounds).toHaveLength(2);
        expect(f.capacity[leg].rounds?.map((r) => r.tps)).toContain(f.capacity[leg].tps);
        expect(f.paced[leg]?.rounds).toHaveLength(2);
      }
      expect(f.options.rounds).toBe(2);
      expect(result.stderr).toMatch(/median of 2 rounds/);
      expect(result.stderr).toMatch(/pgbench legs? skipped: .*apt-get install/);
    },
    BENCH_TIMEOUT,
  );
});
