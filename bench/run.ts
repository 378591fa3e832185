/**
 * `npm run bench [-- --runs N] [--json] [--out FILE]`: the package's benchmarks. Figures are
 * printed; with --json one JSON document goes to stdout, with --out it is also written to FILE
 * (default bench/results/<date>.json) so two runs can be compared.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchStartup } from './up-cold-start.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, json: { type: 'boolean', default: false }, out: { type: 'string' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('--runs must be a whole number >= 1\n');
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
log(`jeex-db bench: ${runs} runs on ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
const startup = await benchStartup(runs, log);
const result = {
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, memoryBytes: totalmem(), node: process.version },
  startup,
};

log(`up, new data directory -> ready:      median ${startup.coldMedianMs.toFixed(0)} ms`);
log(`up, existing data directory -> ready: median ${startup.warmMedianMs.toFixed(0)} ms`);
if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
const out = values.out ?? resolve(import.meta.dirname, 'results', `${result.when.slice(0, 19).replaceAll(':', '-')}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
log(`written to ${out}`);
