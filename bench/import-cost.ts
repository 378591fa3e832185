/**
 * `npx tsx bench/import-cost.ts [--runs 10] [--root DIR] [--only .,./ops] [--json] [--out FILE]`:
 * what importing each entry point of the package costs. For every subpath of package.json
 * `exports` (and two references: a bare `node`, and the client alone, dist/db/create-db.js), a
 * fresh `node` process imports the built file --runs times: the time of the `import()` and the
 * process's RSS after it; medians are printed. One more run per entry, with a resolve hook,
 * lists the packages it loaded, and says whether an OpenTelemetry exporter or SDK was among
 * them (the root must load none: `startTelemetry` imports them when a reader is configured).
 *
 * Run `npm run build` first (it measures dist/). --root DIR measures another build with the
 * same layout (e.g. a copy of dist/ from before a change, next to a package.json). The JSON
 * document goes to stdout with --json and to FILE with --out.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface EntryFigures {
  /** The subpath of `exports` (`.`, `./ops`, ...), or a reference (`(node)`, `(client)`). */
  entry: string;
  file: string;
  importMs: number[];
  rssMiB: number[];
  medianImportMs: number;
  medianRssMiB: number;
  /** Files loaded (ESM through the resolve hook, CommonJS from require.cache). */
  modules: number;
  /** Packages under node_modules that were loaded. */
  packages: string[];
  /** An @opentelemetry exporter or the metrics SDK was loaded. */
  telemetrySdkLoaded: boolean;
}

export interface ImportCostFigures {
  root: string;
  runs: number;
  node: string;
  entries: EntryFigures[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const TELEMETRY_SDK = /^@opentelemetry\/(exporter-|sdk-|otlp-|resources$)/;

// Appends every file: URL the ESM loader resolves to $JEEX_IMPORT_COST_LOG (the hook runs in the
// loader's thread, so it writes the file rather than sharing memory with the importer).
const RESOLVE_HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (result.url.startsWith('file:')) appendFileSync(process.env.JEEX_IMPORT_COST_LOG, result.url + '\\n');
  return result;
}`;
const REGISTER = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`)});`)}`;

/** The script each process runs: import `url` (or nothing), then print the time, the RSS and the CommonJS files loaded. */
function importScript(url: string | undefined): string {
  return `import { createRequire } from 'node:module';
const started = performance.now();
${url ? `await import(${JSON.stringify(url)});` : ''}
const ms = performance.now() - started;
const rss = process.memoryUsage().rss;
const cjs = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify({ ms, rss, cjs }));`;
}

function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(stdout) : reject(new Error(`node ${args.slice(0, 2).join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** The package name of a file under node_modules (`@scope/name` or `name`), else undefined. */
export function packageOf(file: string): string | undefined {
  const match = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return match?.[1];
}

/**
 * The files and packages that importing `file` loads, in a fresh node process (with `extraArgs`
 * before the script, e.g. `['--import', 'tsx']` to import TypeScript sources).
 */
export async function loadedBy(file: string, extraArgs: string[] = []): Promise<{ modules: string[]; packages: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'jeex-import-cost-'));
  try {
    const log = join(dir, 'resolved.txt');
    await writeFile(log, '');
    const out = await runNode([...extraArgs, '--import', REGISTER, '--input-type=module', '-e', importScript(pathToFileURL(file).href)], { ...process.env, JEEX_IMPORT_COST_LOG: log });
    const esm = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((url) => new URL(url).pathname);
    const { cjs } = JSON.parse(out) as { cjs: string[] };
    const modules = [...new Set([...esm, ...cjs])].sort();
    const packages = [...new Set(modules.map(packageOf).filter((name): name is string => name !== undefined))].sort();
    return { modules, packages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Time and RSS of importing each entry point of the build under `root`, `runs` fresh processes each. */
export async function benchImportCost(root: string, runs: number, only: string[] | undefined, onLine: (line: string) => void): Promise<ImportCostFigures> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { default: string }> };
  const targets: { entry: string; file: string | undefined }[] = [
    { entry: '(node)', file: undefined },
    { entry: '(client)', file: join(root, 'dist', 'db', 'create-db.js') },
    ...Object.entries(pkg.exports).map(([entry, target]) => ({ entry, file: join(root, target.default) })),
  ].filter((t) => !only || only.includes(t.entry));
  const entries: EntryFigures[] = [];
  for (const { entry, file } of targets) {
    const importMs: number[] = [];
    const rssMiB: number[] = [];
    for (let i = 0; i < runs; i++) {
      const out = JSON.parse(await runNode(['--input-type=module', '-e', importScript(file ? pathToFileURL(file).href : undefined)])) as { ms: number; rss: number };
      importMs.push(Math.round(out.ms * 10) / 10);
      rssMiB.push(Math.round((out.rss / 2 ** 20) * 10) / 10);
    }
    const loaded = file ? await loadedBy(file) : { modules: [], packages: [] };
    const figures: EntryFigures = {
      entry,
      file: file ?? '',
      importMs,
      rssMiB,
      medianImportMs: median(importMs),
      medianRssMiB: median(rssMiB),
      modules: loaded.modules.length,
      packages: loaded.packages,
      telemetrySdkLoaded: loaded.packages.some((name) => TELEMETRY_SDK.test(name)),
    };
    entries.push(figures);
    onLine(
      `${entry.padEnd(10)} import ${figures.medianImportMs.toFixed(0).padStart(5)} ms  rss ${figures.medianRssMiB.toFixed(1).padStart(6)} MiB  ${String(figures.modules).padStart(5)} files, ${String(figures.packages.length).padStart(3)} packages${figures.telemetrySdkLoaded ? '  (loads the OpenTelemetry SDK/exporters)' : ''}`,
    );
  }
  return { root, runs, node: process.version, entries };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '10' },
      root: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write('--runs must be a whole number >= 1\n');
    process.exit(2);
  }
  const root = resolve(values.root ?? join(import.meta.dirname, '..'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`importing each entry point of ${root} in ${runs} fresh node ${process.version} processes (medians):`);
  const figures = await benchImportCost(root, runs, values.only?.split(','), log);
  const document = `${JSON.stringify({ importCost: figures }, null, 2)}\n`;
  if (values.out) {
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(values.out, document);
  }
  if (values.json) process.stdout.write(document);
}
