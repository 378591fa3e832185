/**
 * `npx tsx bench/wal-reader.ts [--segments 24] [--rounds 3] [--dir DIR] [--compiled] [--json]`: how fast
 * readWal (what `verify` and `restore --latest` run over the archive) reads WAL. Without --dir,
 * a cluster from `up` writes --segments segments of ordinary WAL (inserts of 200-byte rows, with
 * a checkpoint every few segments so full-page images appear too), archived into its repository;
 * with --dir, the consecutive segments of that archive directory from its first one are read.
 * Each round reads them all once (page headers, record chain, CRC-32C); the median round is
 * printed in MiB/s and records/s (and with --json one document on stdout). `--compiled` reads
 * with `dist/` (what the CLI runs; `npm run build` first) instead of the TypeScript through tsx.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { defaultRepo } from '../src/ops/backup/repo.ts';
import { parseWalName, segmentNumber, walNameOf } from '../src/ops/backup/wal.ts';
import { readWal as readWalSource, type WalReadResult } from '../src/ops/backup/wal-reader.ts';
import { connect } from '../src/db/connect.ts';
import { localLayout } from '../src/local/layout.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { reachableDir } from './dirs.ts';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '24' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
    compiled: { type: 'boolean', default: false },
  },
});
const compiledPath = '../dist/ops/backup/wal-reader.js';
const readWal: typeof readWalSource = values.compiled ? ((await import(compiledPath)) as { readWal: typeof readWalSource }).readWal : readWalSource;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** The consecutive run of segments from the first one in `dir`. */
async function consecutiveSegments(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => parseWalName(name)).sort();
  const first = parseWalName(names[0] ?? '');
  if (!first) throw new Error(`no WAL segment in ${dir}`);
  const present = new Set(names);
  const run: string[] = [];
  for (let segno = segmentNumber(first); present.has(walNameOf(first.timeline, segno)); segno++) run.push(walNameOf(first.timeline, segno));
  return run;
}

async function writeSegments(root: string, count: number): Promise<string> {
  const dataDir = join(root, 'db');
  const result = await up({ dataDir, port: await freePort(), memoryBytes: 1024 ** 3, cpus: 2, pooler: false });
  const url = result.urls.superuser;
  if (!url) throw new Error('no superuser URL');
  const sql = connect(url, { max: 1, onnotice: () => {} });
  try {
    await sql`CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body text NOT NULL)`;
    const [start] = await sql<{ file: string }[]>`SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS file`;
    const first = parseWalName(start?.file ?? '');
    if (!first) throw new Error('no current WAL file');
    for (let written = 0; ; written++) {
      const [now] = await sql<{ file: string }[]>`SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS file`;
      const at = parseWalName(now?.file ?? '');
      if (at && segmentNumber(at) - segmentNumber(first) >= BigInt(count)) break;
      await sql`INSERT INTO bench_rows (body) SELECT md5(i::text) || repeat('w', 168) FROM generate_series(1, 20000) i`;
      if (written % 40 === 39) await sql`CHECKPOINT`;
    }
    await sql`SELECT pg_switch_wal()`;
    const wal = defaultRepo(localLayout(dataDir)).wal;
    const last = walNameOf(first.timeline, segmentNumber(first) + BigInt(count) - 1n);
    for (let i = 0; i < 600 && !(await stat(join(wal, last)).catch(() => undefined)); i++) await sleep(100);
    return wal;
  } finally {
    await sql.end({ timeout: 5 });
    await down({ dataDir }).catch(() => undefined);
  }
}

const root = values.dir ? undefined : await reachableDir('jeex-bench-wal-');
try {
  const dir = values.dir ?? (await writeSegments(root ?? '', Number(values.segments)));
  const segments = await consecutiveSegments(dir);
  log(`reading ${segments.length} segments of ${dir} (${segments[0]} to ${segments.at(-1)}), ${values.rounds} rounds`);
  const rounds: WalReadResult[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    const read = await readWal({ dir, segments });
    if (read.damage) throw new Error(`damage in ${read.damage.segment}: ${read.damage.problem}`);
    rounds.push(read);
    log(`  round ${i + 1}: ${read.records} records, ${(read.bytesRead / 2 ** 20).toFixed(0)} MiB in ${(read.durationMs / 1000).toFixed(2)} s: ${(read.bytesRead / 2 ** 20 / (read.durationMs / 1000)).toFixed(0)} MiB/s`);
  }
  const median = [...rounds].sort((a, b) => a.durationMs - b.durationMs)[Math.floor(rounds.length / 2)];
  if (!median) throw new Error('no round');
  const figures = {
    segments: segments.length,
    records: median.records,
    mib: median.bytesRead / 2 ** 20,
    seconds: median.durationMs / 1000,
    mibPerSecond: median.bytesRead / 2 ** 20 / (median.durationMs / 1000),
    recordsPerSecond: median.records / (median.durationMs / 1000),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else log(`median: ${figures.mibPerSecond.toFixed(0)} MiB/s, ${Math.round(figures.recordsPerSecond)} records/s (${figures.segments} segments, ${figures.records} records)`);
} finally {
  if (root) await rm(root, { recursive: true, force: true });
}
