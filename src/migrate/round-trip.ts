import type { Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { catalogObjects, objectLine, type FingerprintKind } from './catalog.ts';
import { defaultMigrationsDir, inspect, migrate, rollback, type RunnerOptions } from './runner.ts';
import { loadMigrations } from './source.ts';

/**
 * The runner's options (timeouts, lock wait, progress). There is no way to run it on a database
 * that holds objects already: `migrate` refuses such a database without a ledger
 * (MIGRATION_UNLEDGERED), and rolling back on a shared one is not what a round trip is for.
 */
export type RoundTripOptions = Omit<RunnerOptions, 'restorePoint'>;

/** One object that is not as it should be, as a fingerprint line (src/migrate/catalog.ts). */
export interface CatalogDifference {
  kind: FingerprintKind;
  /** `left-over`: there but should not be (a down file forgot it); `missing`: should be there but is not; `changed`: there, with other properties. */
  change: 'left-over' | 'missing' | 'changed';
  /** The object, e.g. `public.users.nickname`. */
  object: string;
  /** The object as it is (as it should be, for `missing`): its name and properties. */
  line: string;
  /** For `changed`: the object as it should be. */
  expected?: string;
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
const RUNNER_SCHEMAS = new Set(['jeex_migrations', 'drizzle']);

type Catalog = Map<string, { kind: FingerprintKind; name: string; line: string }>;

/**
 * The application's objects by kind and name, each as its fingerprint line. A column's position
 * is left out: a column dropped and added again gets a new attnum (PostgreSQL never reuses one),
 * which no down file can undo.
 */
async function applicationCatalog(sql: Sql): Promise<Catalog> {
  const catalog: Catalog = new Map();
  for (const object of await catalogObjects(sql)) {
    if (RUNNER_SCHEMAS.has(object.schema)) continue;
    const attributes = { ...object.attributes };
    if (object.kind === 'columns') delete attributes.position;
    catalog.set(`${object.kind} ${object.name}`, { kind: object.kind, name: object.name, line: objectLine({ ...object, attributes }) });
  }
  return catalog;
}

function compare(expected: Catalog, actual: Catalog): CatalogDifference[] {
  const out: CatalogDifference[] = [];
  for (const [key, have] of actual) {
    const want = expected.get(key);
    if (!want) out.push({ kind: have.kind, change: 'left-over', object: have.name, line: have.line });
    else if (want.line !== have.line) out.push({ kind: have.kind, change: 'changed', object: have.name, line: have.line, expected: want.line });
  }
  for (const [key, want] of expected) if (!actual.has(key)) out.push({ kind: want.kind, change: 'missing', object: want.name, line: want.line });
  return out;
}

/** Objects of the application in a database no migration touched yet: schemas other than public, anything in any schema. */
function applicationObjects(catalog: Catalog): string[] {
  return [...catalog.values()]
    .filter((o) => o.kind !== 'extensions' && !(o.kind === 'schemas' && ['public', 'jeex_roles'].includes(o.name)) && !o.name.startsWith('jeex_roles.'))
    .map((o) => `${o.kind}: ${o.name}`);
}

const errorOf = (error: unknown): NonNullable<RoundTripStep['error']> =>
  error instanceof JeexDbError ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } : { code: 'FAILURE', message: (error as Error).message };

/**
 * The round trip a project runs in CI on a scratch database: apply the migrations one by one
 * (recording the catalog after each), roll them back one by one, newest first, comparing the
 * catalog after each rollback with the one recorded before that migration, then apply them again
 * one by one, comparing with the first apply. A down file that forgets to drop something (or
 * drops too much) shows as that migration's `down` differences, object by object. Destructive:
 * refuses a database with migrations applied or with application objects.
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
  const before = await applicationCatalog(sql);
  const found = applicationObjects(before);
  if (found.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `the database is not empty: ${found.length} application object(s), e.g. ${found.slice(0, 5).join(', ')}`, {
      hint: 'Point it at a scratch database created empty for the round trip (e.g. `createdb roundtrip_ci`). Nothing was changed.',
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
  const key = (d: CatalogDifference) => `${d.kind} ${d.change} ${d.line} ${d.expected ?? ''}`;
  const step = async (migration: string, phase: RoundTripStep['phase'], run: () => Promise<unknown>, expected?: Catalog): Promise<boolean> => {
    try {
      await run();
    } catch (error) {
      steps.push({ migration, phase, differences: [], error: errorOf(error) });
      return false;
    }
    const now = await applicationCatalog(sql);
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
