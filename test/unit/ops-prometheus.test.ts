import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';
import { PROMTOOL_BINARY } from '../helpers/prometheus.ts';
import { skipOrFail } from '../helpers/skip.ts';

// ops/prometheus/ as an operator deploys it, checked by the real promtool (Debian prometheus 2.42).
const DIR = join(ROOT, 'ops', 'prometheus');

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(PROMTOOL_BINARY, args, { cwd: DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

describe('ops/prometheus', () => {
  it('prometheus.yml is a valid configuration whose rule file loads', async (ctx) => {
    if (!existsSync(PROMTOOL_BINARY)) skipOrFail(ctx, `${PROMTOOL_BINARY} is missing (apt-get install prometheus)`);
    const result = await promtool(['check', 'config', 'prometheus.yml']);
    expect(result.output).toContain('SUCCESS: 1 rule files found');
    expect(result.code).toBe(0);
  });

  it('the rules fire and stay quiet as jeex-db.rules.test.yml expects (promtool test rules)', async (ctx) => {
    if (!existsSync(PROMTOOL_BINARY)) skipOrFail(ctx, `${PROMTOOL_BINARY} is missing (apt-get install prometheus)`);
    const result = await promtool(['test', 'rules', 'jeex-db.rules.test.yml']);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });
});
