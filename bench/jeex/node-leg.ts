/**
 * Drive the JEEX workload from this process through a Drizzle client: `clients` concurrent
 * clients, either back to back (capacity) or paced by a Poisson schedule at `rate` transactions/s
 * (as pgbench -R: each free client takes the next scheduled start; a late start counts in the
 * latency, and a slot is never skipped).
 */
import type { Database } from '../../src/db/create-db.ts';
import { translateDbError } from '../../src/db/translate-error.ts';
import { randomExponential, seededRandom } from '../random.ts';
import { Samples } from './stats.ts';
import { drawRanges, nextRequest, type OperationName, type WorkloadData } from './workload.ts';

export interface DriveOptions {
  clients: number;
  /** Seconds run before measuring (connections opened, code and caches warm). */
  warmupS: number;
  durationS: number;
  /** Transactions per second for a paced run; undefined = as fast as possible. */
  rate?: number;
  /** Seeds the request streams (the same for every leg). */
  seed: number;
}

export interface DriveResult {
  transactions: number;
  errors: number;
  elapsedS: number;
  latencies: Float64Array;
  lags?: Float64Array;
  perOperation: Map<OperationName, Float64Array>;
  errorSamples: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Run the workload; `onMeasureStart` is awaited-at-leisure when the warm-up ends (take the CPU
 * sample there). Returns when every client has finished its last transaction.
 */
export async function driveNode(db: Database, data: WorkloadData, options: DriveOptions, onMeasureStart: () => Promise<void>): Promise<DriveResult> {
  const ranges = drawRanges(data);
  const start = performance.now();
  const measureFrom = start + options.warmupS * 1000;
  const end = measureFrom + options.durationS * 1000;
  let measuring: Promise<void> | undefined;
  const timer = setTimeout(() => {
    measuring = onMeasureStart();
  }, options.warmupS * 1000);

  const paced = options.rate !== undefined;
  const schedule = seededRandom(options.seed);
  const meanGapMs = paced ? 1000 / (options.rate ?? 1) : 0;
  let nextSlot = start;
  const latencies = new Samples();
  const lags = new Samples();
  const perOperation = new Map<OperationName, Samples>();
  const errorSamples = new Set<string>();
  let errors = 0;
  let lastDone = end;

  const client = async (index: number) => {
    const random = seededRandom(options.seed * 1000 + index + 1);
    for (;;) {
      let scheduled = performance.now();
      if (paced) {
        scheduled = nextSlot;
        nextSlot += randomExponential(schedule, meanGapMs);
        if (scheduled >= end) return;
        // Timers fire on whole milliseconds: sleep the whole part, start up to 1 ms early.
        const wait = scheduled - performance.now();
        if (wait >= 1) await sleep(Math.floor(wait));
      } else if (scheduled >= end) return;
      const { operation, draw } = nextRequest(random, ranges);
      const began = performance.now();
      const origin = Math.min(scheduled, began);
      const counted = (paced ? scheduled : began) >= measureFrom;
      try {
        await operation.run(db, draw, data);
        const done = performance.now();
        if (!counted) continue;
        lastDone = Math.max(lastDone, done);
        latencies.push(done - origin);
        if (paced) lags.push(Math.max(0, began - scheduled));
        let samples = perOperation.get(operation.name);
        if (!samples) perOperation.set(operation.name, (samples = new Samples()));
        samples.push(done - origin);
      } catch (error) {
        if (!counted) continue;
        errors++;
        if (errorSamples.size < 5) {
          const e = translateDbError(error);
          errorSamples.add(`${operation.name}: ${e.code}: ${e.message.slice(0, 200)}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  clearTimeout(timer);
  await measuring;
  return {
    transactions: latencies.length,
    errors,
    elapsedS: (lastDone - measureFrom) / 1000,
    latencies: latencies.values(),
    ...(paced ? { lags: lags.values() } : {}),
    perOperation: new Map([...perOperation].map(([name, samples]) => [name, samples.values()])),
    errorSamples: [...errorSamples],
  };
}
