/**
 * pgbench as the ceiling: the same statements from a C client, no Node, no ORM, no pooler.
 * pgbench of any major from 10 on can drive PostgreSQL 18 (it only sends SQL); Debian installs it
 * in /usr/lib/postgresql/<major>/bin, which is not on PATH.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { access, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Samples } from './stats.ts';
import type { PgbenchScript } from './pgbench-script.ts';
import type { OperationName } from './workload.ts';

const run = promisify(execFile);

export interface PgbenchBinary {
  path: string;
  version: string;
}

/** How to get pgbench on Debian/Ubuntu and elsewhere. */
export const PGBENCH_MISSING =
  'pgbench not found in /usr/lib/postgresql/*/bin or on PATH. Install it (Debian/Ubuntu: apt-get install postgresql-contrib, which brings the ' +
  'postgresql-NN package that holds pgbench; some releases ship it in postgresql-client-NN; any major from 10 on can drive PostgreSQL 18; ' +
  'elsewhere the PostgreSQL client tools), or set JEEX_BENCH_PGBENCH to its path, then run the bench again';

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The newest pgbench under /usr/lib/postgresql/<major>/bin, else the one on PATH. */
export async function findPgbench(env: NodeJS.ProcessEnv = process.env): Promise<PgbenchBinary | { missing: string }> {
  const candidates: string[] = [];
  if (env.JEEX_BENCH_PGBENCH !== undefined) candidates.push(env.JEEX_BENCH_PGBENCH);
  else {
    const majors = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
    for (const major of majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${major}/bin/pgbench`);
    for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) candidates.push(join(dir, 'pgbench'));
  }
  for (const path of candidates) {
    if (!path || !(await executable(path))) continue;
    try {
      const { stdout } = await run(path, ['--version']);
      return { path, version: stdout.trim() };
    } catch {
      // e.g. Debian's pg_wrapper with no client installed: try the next one.
    }
  }
  return { missing: env.JEEX_BENCH_PGBENCH !== undefined ? `JEEX_BENCH_PGBENCH=${env.JEEX_BENCH_PGBENCH} is not a working pgbench; ${PGBENCH_MISSING}` : PGBENCH_MISSING };
}

export interface PgbenchOptions {
  binary: PgbenchBinary;
  /** postgres:// URL of the server (direct), with the password. */
  url: string;
  scripts: PgbenchScript[];
  /** Where the script files and transaction logs go. */
  dir: string;
  clients: number;
  durationS: number;
  rate?: number;
  seed: number;
  /** Write a per-transaction log (for percentiles). */
  log: boolean;
  /** `extended`: unnamed statements, parsed and planned each time; `prepared`: named, once per connection. */
  protocol: 'extended' | 'prepared';
}

export interface PgbenchResult {
  transactions: number;
  failed: number;
  abortedClients: number;
  tps: number;
  exitCode: number | null;
  latencies: Float64Array;
  lags?: Float64Array;
  perOperation: Map<OperationName, Float64Array>;
  errorSamples: string[];
  args: string[];
}

/** Write the scripts and run pgbench once; the connection comes from PG* variables, not argv. */
export async function runPgbench(options: PgbenchOptions): Promise<PgbenchResult> {
  const files: string[] = [];
  for (const script of options.scripts) {
    const file = join(options.dir, `${script.operation}.sql`);
    await writeFile(file, script.text);
    files.push(`${file}@${script.weight}`);
  }
  const prefix = join(options.dir, 'tx');
  for (const name of await readdir(options.dir)) if (name.startsWith('tx.')) await rm(join(options.dir, name));
  const threads = Math.min(2, options.clients);
  const args = [
    '--no-vacuum',
    `--client=${options.clients}`,
    `--jobs=${threads}`,
    `--time=${Math.max(1, Math.round(options.durationS))}`,
    `--protocol=${options.protocol}`,
    `--random-seed=${options.seed}`,
    ...(options.rate ? [`--rate=${options.rate}`] : []),
    ...(options.log ? ['--log', `--log-prefix=${prefix}`] : []),
    ...files.flatMap((f) => ['-f', f]),
  ];
  const url = new URL(options.url);
  const env = {
    ...process.env,
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
    PGAPPNAME: 'bench jeex pgbench',
    PGSSLMODE: url.searchParams.get('sslmode') ?? 'prefer',
    // The local cluster is TLS 1.3 only: libpq verifies it with the URL's root certificate.
    ...(url.searchParams.get('sslrootcert') ? { PGSSLROOTCERT: url.searchParams.get('sslrootcert') ?? '' } : {}),
    ...(url.searchParams.get('hostaddr') ? { PGHOSTADDR: url.searchParams.get('hostaddr') ?? '' } : {}),
  };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(options.binary.path, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: options.dir });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
  });
  const number = (pattern: RegExp) => Number(pattern.exec(stdout)?.[1] ?? Number.NaN);
  const aborted = stderr.split('\n').filter((line) => /aborted|error/i.test(line));
  const parsed = options.log ? await readLogs(options.dir, options.scripts) : { latencies: new Float64Array(), perOperation: new Map<OperationName, Float64Array>() };
  const transactions = number(/number of transactions actually processed: (\d+)/);
  if (!Number.isFinite(transactions)) {
    throw new Error(`pgbench (${options.binary.path}) failed with exit code ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return {
    transactions,
    failed: number(/number of failed transactions: (\d+)/) || 0,
    abortedClients: aborted.filter((line) => /aborted/.test(line)).length,
    tps: number(/tps = ([\d.]+)/),
    exitCode: code,
    ...parsed,
    errorSamples: aborted.slice(0, 5).map((line) => line.slice(0, 300)),
    args,
  };
}

/**
 * The per-transaction log: `client transaction latency_us script epoch epoch_us [lag_us]`;
 * with --rate the latency counts from the scheduled start, like the paced Node legs.
 */
async function readLogs(dir: string, scripts: PgbenchScript[]): Promise<{ latencies: Float64Array; lags?: Float64Array; perOperation: Map<OperationName, Float64Array> }> {
  const latencies = new Samples();
  const lags = new Samples();
  const perScript = scripts.map(() => new Samples());
  for (const name of await readdir(dir)) {
    if (!name.startsWith('tx.')) continue;
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 6) continue;
      const latency = Number(fields[2]);
      if (!Number.isFinite(latency)) continue; // "failed" or "skipped"
      latencies.push(latency / 1000);
      perScript[Number(fields[3])]?.push(latency / 1000);
      if (fields.length >= 7) lags.push(Number(fields[6]) / 1000);
    }
  }
  return {
    latencies: latencies.values(),
    ...(lags.length > 0 ? { lags: lags.values() } : {}),
    perOperation: new Map(scripts.map((s, i) => [s.operation, perScript[i]?.values() ?? new Float64Array()])),
  };
}
