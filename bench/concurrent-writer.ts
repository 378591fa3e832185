import { connect } from '../src/db/connect.ts';

export interface LatencyFigures {
  inserts: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface WriterFigures {
  /** Before the migrations start: what an insert normally costs here. */
  baseline: LatencyFigures;
  /** While the migrations run. */
  duringMigrations: LatencyFigures;
  /** The slowest insert, and the phase (migration) it was waiting in when it started. */
  longestStall: { ms: number; phase: string };
  /**
   * Per phase (migration), in order: inserts, failed inserts, the slowest, and the stalls: inserts slower than
   * STALL_MS (an insert here normally takes about a millisecond), their total time, and how many
   * took over 500 ms (and their durations, in order).
   */
  perPhase: { phase: string; inserts: number; errors: number; maxMs: number; stalledMs: number; stallsOver500Ms: number; longStallsMs: number[] }[];
  /** The first few distinct errors, if any insert failed. */
  errorSamples: string[];
}

interface Sample {
  phase: string;
  ms: number;
  ok: boolean;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

function summarise(samples: Sample[]): LatencyFigures {
  const sorted = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  return {
    inserts: sorted.length,
    errors: samples.length - sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export const BASELINE = 'baseline';
/** An insert slower than this waited for something (a lock): it counts as a stall. */
export const STALL_MS = 100;

/**
 * The application carrying on during a deploy: one connection (application_name
 * `bench-writer`) appending small document versions to one project as fast as it can, each
 * insert timed and labelled with the phase it started in (`setPhase`, e.g. the migration being
 * applied). Phase `baseline` until the first `setPhase`; `stop()` ends the loop.
 */
export function startWriter(url: string, target: { projectId: string; userId: string }) {
  const sql = connect(url, { max: 1, onnotice: () => {}, connection: { application_name: 'bench-writer' } });
  const samples: Sample[] = [];
  const phases: string[] = [BASELINE];
  const errorSamples = new Set<string>();
  let phase = BASELINE;
  let stopped = false;

  const loop = (async () => {
    for (let version = 1; !stopped; version++) {
      const started = performance.now();
      const startedIn = phase;
      try {
        await sql`
          INSERT INTO document_versions (project_id, document_type, version, content, created_by)
          VALUES (${target.projectId}, 'about', ${version}, ${`Version ${version}: a short edit made during the deploy.`}, ${target.userId})`;
        samples.push({ phase: startedIn, ms: performance.now() - started, ok: true });
      } catch (error) {
        samples.push({ phase: startedIn, ms: performance.now() - started, ok: false });
        if (errorSamples.size < 5) errorSamples.add(error instanceof Error ? error.message : String(error));
      }
    }
  })();

  async function finish(): Promise<WriterFigures> {
    await loop;
    await sql.end({ timeout: 5 });
    const during = samples.filter((s) => s.phase !== BASELINE);
    const slowest = during.reduce<Sample | undefined>((max, s) => (!max || s.ms > max.ms ? s : max), undefined);
    return {
      baseline: summarise(samples.filter((s) => s.phase === BASELINE)),
      duringMigrations: summarise(during),
      longestStall: { ms: slowest?.ms ?? 0, phase: slowest?.phase ?? '' },
      perPhase: phases
        .filter((p) => p !== BASELINE)
        .map((p) => {
          const mine = during.filter((s) => s.phase === p);
          const stalls = mine.filter((s) => s.ms > STALL_MS);
          return {
            phase: p,
            inserts: mine.filter((s) => s.ok).length,
            errors: mine.filter((s) => !s.ok).length,
            maxMs: mine.reduce((max, s) => Math.max(max, s.ms), 0),
            stalledMs: stalls.reduce((sum, s) => sum + s.ms, 0),
            stallsOver500Ms: stalls.filter((s) => s.ms > 500).length,
            longStallsMs: stalls.filter((s) => s.ms > 500).map((s) => Math.round(s.ms)),
          };
        }),
      errorSamples: [...errorSamples],
    };
  }

  let result: Promise<WriterFigures> | undefined;
  return {
    setPhase(name: string) {
      phase = name;
      if (!phases.includes(name)) phases.push(name);
    },
    /** End the loop and summarise; safe to call again (returns the same figures). */
    stop(): Promise<WriterFigures> {
      stopped = true;
      result ??= finish();
      return result;
    },
  };
}
