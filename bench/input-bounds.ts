/**
 * How long oversized input blocks the event loop (issue 18, finding 4):
 * `npx tsx bench/input-bounds.ts [--sizes 10485760,100000000] [--cases a,b]`.
 *
 * Each case calls one library entry point with one field of `size` characters, in a child
 * process of its own (an input that exhausts the heap kills only that child, and is reported as
 * a crash), with a client whose URL points at a closed port: input that is refused never needs
 * the database. Reported per case: the longest event-loop stall (perf_hooks'
 * monitorEventLoopDelay), the time until the call settled, the error code, and the child's peak
 * RSS, after warm-up calls with 1 and 1,000 characters. One JSON document on stdout; a table
 * on stderr.
 */
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createDb, type Database } from '../src/db/create-db.ts';
import { generateKey } from '../src/crypto/keys.ts';
import { appendDocumentVersion } from '../src/db/queries/document-versions.ts';
import { createProject, updateProject } from '../src/db/queries/projects.ts';
import { createUser, findUserByEmail } from '../src/db/queries/users.ts';
import { uuidv7 } from '../src/core/uuid.ts';

const someone = uuidv7();
const cases: Record<string, (db: Database, big: string) => Promise<unknown>> = {
  'createUser.name': (db, big) => createUser(db, { email: 'ada@example.com', name: big }),
  'createUser.email': (db, big) => createUser(db, { email: `${big}@example.com`, name: 'Ada' }),
  'findUserByEmail.email': (db, big) => findUserByEmail(db, `${big}@example.com`),
  'createProject.name': (db, big) => createProject(db, { name: big, createdBy: someone }),
  'createProject.metadata': (db, big) => createProject(db, { name: 'Big metadata', createdBy: someone, metadata: { notes: big } }),
  'updateProject.name': (db, big) => updateProject(db, someone, { name: big }),
  'appendDocumentVersion.content': (db, big) => appendDocumentVersion(db, { projectId: someone, documentType: 'specs', content: big, createdBy: someone }),
};

interface Figure {
  case: string;
  size: number;
  /** Longest event-loop stall, ms. */
  blockedMs: number;
  /** Until the call settled (a call that reached the network includes its connection attempts), ms. */
  settledMs: number;
  code: string;
  peakRssMiB: number;
  crashed?: string;
}

async function child(name: string, size: number): Promise<void> {
  const run = cases[name];
  if (!run) throw new Error(`no case ${name}`);
  const { db, close } = createDb({ url: 'postgres://nobody@127.0.0.1:9/none?sslmode=disable', connectTimeout: 1 }, {});
  // A cipher is attached so that user queries get past their keys (no database is needed for it).
  const client = createDb({ url: 'postgres://nobody@127.0.0.1:9/none?sslmode=disable', connectTimeout: 1, keys: { data: [generateKey()], blindIndex: [generateKey()] } }, {});
  const target = name.startsWith('createUser') || name.startsWith('find') ? client.db : db;
  // Warm up (zod compiles a parser at a schema's first use, modules load): the figure is the
  // input's cost, not the first call's. A warm-up that reaches for the network is not awaited.
  for (const small of ['a', 'a'.repeat(1000)]) await Promise.race([run(target, small).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 200))]);
  const big = 'a'.repeat(size);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  const error = await run(target, big).then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  const settledMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 20));
  delay.disable();
  const figure: Figure = {
    case: name,
    size,
    blockedMs: Math.round(delay.max / 1e5) / 10,
    settledMs: Math.round(settledMs * 10) / 10,
    code: error ? ((error as { code?: string }).code ?? error.message) : 'ok',
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.send?.(figure);
  await Promise.all([close(0), client.close(0)]);
}

function inChild(name: string, size: number): Promise<Figure> {
  return new Promise((resolve) => {
    let figure: Figure | undefined;
    const proc = fork(import.meta.filename, ['--child', name, '--size', String(size)], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    proc.on('message', (message: Figure) => (figure = message));
    proc.on('exit', (code, signal) => {
      if (figure) return resolve(figure);
      const last = stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
      resolve({ case: name, size, blockedMs: Number.NaN, settledMs: Number.NaN, code: 'crashed', peakRssMiB: Number.NaN, crashed: `exit ${code ?? signal}: ${last}` });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string' }, cases: { type: 'string' }, child: { type: 'string' }, size: { type: 'string' } } });
  if (values.child) return child(values.child, Number(values.size));
  const sizes = (values.sizes ?? '10485760,100000000').split(',').map(Number);
  const names = values.cases ? values.cases.split(',') : Object.keys(cases);
  const figures: Figure[] = [];
  for (const size of sizes) {
    for (const name of names) {
      const figure = await inChild(name, size);
      figures.push(figure);
      process.stderr.write(
        `${name.padEnd(30)} ${String(size).padStart(10)} chars  blocked ${String(figure.blockedMs).padStart(8)} ms  settled ${String(figure.settledMs).padStart(8)} ms  ${figure.code}${figure.crashed ? ` (${figure.crashed})` : ''}  rss ${figure.peakRssMiB} MiB\n`,
      );
    }
  }
  process.stdout.write(`${JSON.stringify({ node: process.version, figures }, null, 2)}\n`);
}

await main();
