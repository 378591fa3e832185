import type { Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { catalogFingerprint, FINGERPRINT_KINDS, type CatalogFingerprint } from './catalog.ts';
import { defaultMigrationsDir, inspect, migrate, rollback, type RunnerOptions } from './runner.ts';
import { loadMigrations } from './source.ts';

export interface RoundTripOptions extends Omit<RunnerOptions, 'restorePoint'> {
  /**
   * Run on a database that already holds application objects (made outside these migrations).
   * Default false: the round trip rolls every migration back, so it refuses anything but a
   * scratch database.
   */
  allowNonEmpty?: boolean;
}

/** One object that is not as it should be, as a fingerprint line (src/migrate/catalog.ts). */
export interface CatalogDifference {
  kind: (typeof FINGERPRINT_KINDS)[number];
  /** `left-over`: there but should not be (a down file forgot it); `missing`: should be there but is not. */
  change: 'left-over' | 'missing';
  /** The object, e.g. `public.users.nickname`. */
  object: string;
  line: string;
}

export interface RoundTripStep {
  migration: string;
  /** `up`: the first apply; `down`: its rollback, compared with the schema before it; `up-again`: applied again, compared with the first apply. */
  phase: 'up' | 'down' | 'up-again';
  differences: CatalogDifference[];
  /** The step failed (the round trip stopped there). */
  error?: { code: string; message: string; hint?: string };
}

export interface RoundTripResult {
  /** Every down file restored the schema its migration started from, and every migration applied again to the same schema. */
  ok: boolean;
  migrations: string[];
  /** Every step, in the order run; `differences` is empty where it matched. */
  steps: RoundTripStep[];
  /** The steps that did not match or failed. */
  failures: RoundTripStep[];
}

/** The runners' own schemas change as they run (a ledger appears): the application's part is the rest. */
const RUNNER_SCHEMAS = ['jeex_migrations', 'drizzle'];

/**
 * The fingerprint without the runners' schemas and with column numbers left out: a column dropped
 * and added again gets a new attnum (PostgreSQL never reuses one), which no down file can undo.
 */
function applicationPart(fingerprint: CatalogFingerprint): CatalogFingerprint {
  const runner = (line: string) => RUNNER_SCHEMAS.some((s) => line.startsWith(`${s}.`) || line.startsWith(`${s} `));
  return Object.fromEntries(
    FINGERPRINT_KINDS.map((kind) => [kind, fingerprint[kind].filter((line) => !runner(line)).map((line) => (kind === 'columns' ? line.replace(/ #\d+ /, ' ') : line)).sort()]),
  ) as CatalogFingerprint;
}

/** `public.users nickname text ...` → `public.users.nickname`; other kinds: relation and name. */
function objectOf(kind: CatalogDifference['kind'], line: string): string {
  const [first = '', second = ''] = line.split(/\s+/);
  if (['columns', 'constraints', 'policies'].includes(kind)) return `${first}.${second}`;
  if (kind === 'functions') return line.split(')')[0] + ')';
  return first;
}

function compare(expected: CatalogFingerprint, actual: CatalogFingerprint): CatalogDifference[] {
  const out: CatalogDifference[] = [];
  for (const kind of FINGERPRINT_KINDS) {
    const want = new Set(expected[kind]);
    const have = new Set(actual[kind]);
    for (const line of actual[kind]) if (!want.has(line)) out.push({ kind, change: 'left-over', object: objectOf(kind, line), line });
    for (const line of expected[kind]) if (!have.has(line)) out.push({ kind, change: 'missing', object: objectOf(kind, line), line });
  }
  return out;
}

/** Objects of the application in a database no migration touched yet: schemas other than public, anything in any schema. */
function applicationObjects(fingerprint: CatalogFingerprint): string[] {
  const part = applicationPart(fingerprint);
  const schemas = part.schemas.filter((line) => !/^(public|jeex_roles) /.test(line));
  const rest = FINGERPRINT_KINDS.filter((k) => k !== 'schemas' && k !== 'extensions').flatMap((kind) => part[kind].filter((line) => !line.startsWith('jeex_roles.')).map((line) => `${kind}: ${objectOf(kind, line)}`));
  return [...schemas.map((line) => `schemas: ${line.split(' ')[0] ?? ''}`), ...rest];
}

const errorOf = (error: unknown): NonNullable<RoundTripStep['error']> =>
  error instanceof JeexDbError ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } : { code: 'FAILURE', message: (error as Error).message };

/**
 * The round trip a project runs in CI on a scratch database: apply the migrations one by one
 * (recording the catalog after each), roll them back one by one, newest first, comparing the
 * catalog after each rollback with the one recorded before that migration, then apply them again
 * one by one, comparing with the first apply. A down file that forgets to drop something (or
 * drops too much) shows as that migration's `down` differences, object by object. Destructive:
 * refuses a database with migrations applied, or with application objects unless `allowNonEmpty`.
 * Returned, not thrown: a failed step ends the trip and is in `failures`.
 *
 * @example
 * const sql = postgres(scratchUrl, { max: 2 });
 * const result = await roundTrip(sql, { migrationsDir: 'drizzle' });
 * if (!result.ok) for (const f of result.failures) console.error(f.migration, f.phase, f.differences, f.error);
 */
export async function roundTrip(sql: Sql, options: RoundTripOptions = {}): Promise<RoundTripResult> {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir;
  const source = await loadMigrations(migrationsDir);
  const { snapshot } = await inspect(sql, source, { allowOutOfOrder: true });
  const applied = snapshot.statuses.filter((s) => s.state !== 'pending').map((s) => s.name);
  if (applied.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `the round trip needs a database without migrations applied; this one has ${applied.join(', ')}`, {
      hint: 'Point it at a scratch database (created empty for the round trip, e.g. `createdb roundtrip_ci`): it rolls every migration back. Nothing was changed.',
    });
  }
  const initial = await catalogFingerprint(sql);
  const before = applicationPart(initial);
  const found = applicationObjects(initial);
  if (found.length > 0 && !options.allowNonEmpty) {
    throw new JeexDbError('INVALID_CONFIG', `the database is not empty: ${found.length} application object(s), e.g. ${found.slice(0, 5).join(', ')}`, {
      hint: 'Point it at a scratch database created empty for the round trip, or pass allowNonEmpty (`--allow-non-empty`) if those objects are meant to be there. Nothing was changed.',
    });
  }

  const runner: RunnerOptions = { ...options, migrationsDir, restorePoint: false };
  const tags = source.migrations.map((m) => m.tag);
  const steps: RoundTripStep[] = [];
  const done = (): RoundTripResult => {
    const failures = steps.filter((s) => s.error || s.differences.length > 0);
    return { ok: failures.length === 0, migrations: tags, steps, failures };
  };
  // stages[i]: the application's catalog with the first i migrations applied.
  const stages = [before];
  // A difference is reported at the step that made it: a column a down file forgot stays
  // different after every later down, until one drops its table; those are not new.
  let carried = new Set<string>();
  const key = (d: CatalogDifference) => `${d.kind} ${d.change} ${d.line}`;
  const step = async (migration: string, phase: RoundTripStep['phase'], run: () => Promise<unknown>, expected?: CatalogFingerprint): Promise<boolean> => {
    try {
      await run();
    } catch (error) {
      steps.push({ migration, phase, differences: [], error: errorOf(error) });
      return false;
    }
    const now = applicationPart(await catalogFingerprint(sql));
    if (phase === 'up') stages.push(now);
    const all = expected ? compare(expected, now) : [];
    steps.push({ migration, phase, differences: all.filter((d) => !carried.has(key(d))) });
    carried = new Set(all.map(key));
    return true;
  };

  for (const tag of tags) if (!(await step(tag, 'up', () => migrate(sql, { ...runner, to: tag })))) return done();
  for (let i = tags.length - 1; i >= 0; i--) {
    if (!(await step(tags[i] ?? '', 'down', () => rollback(sql, { ...runner, steps: 1 }), stages[i]))) return done();
  }
  carried = new Set();
  for (let i = 0; i < tags.length; i++) {
    if (!(await step(tags[i] ?? '', 'up-again', () => migrate(sql, { ...runner, to: tags[i] }), stages[i + 1]))) return done();
  }
  return done();
}
