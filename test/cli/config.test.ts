import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runCli, type RunResult } from '../helpers/cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries } from '../../src/cluster/binaries.ts';
import { deriveSettings, renderConf } from '../../src/cluster/tuning.ts';

// `jeex-db config` needs no database: it shows what `up` would write to jeex-tuning.conf.

const EIGHT_GIB = ['--memory', '8GiB', '--cpus', '4'];
const expected = deriveSettings({ memoryBytes: 8 * 2 ** 30, cpus: 4, storage: 'ssd' });

function expectOk(result: RunResult): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0);
}

describe('jeex-db config', () => {
  it('--json for 8GiB / 4 CPUs is exactly deriveSettings for that machine', async () => {
    const result = await runCli(['config', '--json', ...EIGHT_GIB]);
    expectOk(result);
    const doc = JSON.parse(result.stdout) as { ok: boolean; machine: Record<string, unknown>; settings: unknown };
    expect(doc.ok).toBe(true);
    expect(doc.machine).toMatchObject({ memoryBytes: 8 * 2 ** 30, cpus: 4, storage: 'ssd' });
    expect(doc.settings).toEqual(expected);
    // Sanity: the derivation really depends on the machine (not a constant table).
    expect(expected.find((s) => s.name === 'shared_buffers')?.value).toBe('2GB');
  });

  it('--explain prints every setting with its value and reason', async () => {
    const result = await runCli(['config', '--explain', ...EIGHT_GIB]);
    expectOk(result);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^derived for 8(\.0)? ?Gi?B memory \(--memory\), 4 CPUs \(--cpus\), ssd$/);
    for (const setting of expected) {
      const at = lines.findIndex((line) => new RegExp(`^\\s+${setting.name}\\s+${setting.value.replace('.', '\\.')}$`).test(line));
      expect(at, `no line "${setting.name}  ${setting.value}" in:\n${result.stdout}`).toBeGreaterThan(0);
      expect(lines[at + 1]?.trim()).toBe(setting.reason);
    }

    const plain = await runCli(['config', ...EIGHT_GIB]);
    expectOk(plain);
    for (const setting of expected) {
      expect(plain.stdout).toMatch(new RegExp(`^\\s+${setting.name}\\s`, 'm'));
      expect(plain.stdout).not.toContain(setting.reason);
    }
  });

  it('--format conf is renderConf of the derived settings, one `name = value` per setting', async () => {
    const result = await runCli(['config', '--format', 'conf', ...EIGHT_GIB]);
    expectOk(result);
    const lines = result.stdout.trimEnd().split('\n');
    const header = lines.slice(0, lines.indexOf('')).map((line) => line.replace(/^# /, ''));
    expect(header.length).toBeGreaterThan(0);
    expect(result.stdout).toBe(renderConf(expected, header));

    const assignments = lines.filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(assignments).toHaveLength(expected.length);
    assignments.forEach((line, i) => {
      const match = /^([a-z_]+) = ('([^']*)'|[0-9.]+)$/.exec(line);
      expect(match, line).not.toBeNull();
      expect(match?.[1]).toBe(expected[i]?.name);
      expect(match?.[3] ?? match?.[2]).toBe(expected[i]?.value);
    });
  });

  describe('the conf fragment, read by the real postgres binary (no server started)', () => {
    let dir: string;
    let confFile: string;
    let postgresBin: string;
    let fragment: string;

    beforeAll(async () => {
      postgresBin = (await findBinaries()).postgres;
      dir = await mkdtemp(join(tmpdir(), 'jeex-cli-config-'));
      await mkdir(join(dir, 'data'));
      confFile = join(dir, 'postgresql.conf');
      const result = await runCli(['config', '--format', 'conf', ...EIGHT_GIB]);
      expectOk(result);
      // `postgres -C` parses the whole file (failing on any invalid value) and prints one
      // setting. It needs to know where the data and the hba/ident files would be.
      fragment = `${result.stdout}\ndata_directory = '${join(dir, 'data')}'\nhba_file = '${join(dir, 'hba')}'\nident_file = '${join(dir, 'ident')}'\n`;
    });

    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    // -C first: that is how postgres recognises a read-only call it may run as root.
    const show = (name: string) => run(postgresBin, ['-C', name, `--config-file=${confFile}`]);

    it('is accepted, and postgres reads the derived values from it', async () => {
      await writeFile(confFile, fragment);
      const read: Record<string, string> = {};
      for (const name of ['max_connections', 'shared_buffers', 'work_mem', 'random_page_cost', 'max_parallel_workers']) {
        const result = await show(name);
        expect(result.code, result.stderr).toBe(0);
        read[name] = result.stdout.trim();
      }
      const value = (name: string) => expected.find((s) => s.name === name)?.value;
      expect(read.max_connections).toBe(value('max_connections'));
      expect(read.shared_buffers).toBe(String((2 * 2 ** 30) / 8192)); // 2GB in 8kB pages
      expect(read.work_mem).toBe(String(Number.parseInt(value('work_mem') ?? '', 10) * 1024)); // MB -> kB
      expect(read.random_page_cost).toBe(value('random_page_cost'));
      expect(read.max_parallel_workers).toBe(value('max_parallel_workers'));
    });

    it('a broken value in the same file is rejected (the check can fail)', async () => {
      await writeFile(confFile, `${fragment}work_mem = 'lots'\n`);
      const result = await show('max_connections');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('invalid value for parameter "work_mem"');
    });
  });

  it('--memory below 256MiB is a usage error (exit 2)', async () => {
    const result = await runCli(['config', '--memory', '1KB']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("option '--memory <size>' argument '1KB' is invalid");
    expect(result.stderr).toContain('256MiB');

    const json = await runCli(['config', '--memory', '1KB', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'INVALID_CONFIG' } });
  });

  it('without flags it tunes for this machine', async () => {
    const result = await runCli(['config', '--json']);
    expectOk(result);
    const doc = JSON.parse(result.stdout) as { machine: { memoryBytes: number; cpus: number; storage: 'ssd' | 'hdd' }; settings: unknown };
    expect(doc.machine.memoryBytes).toBeGreaterThanOrEqual(256 * 2 ** 20);
    expect(doc.settings).toEqual(deriveSettings(doc.machine));
  });
});
