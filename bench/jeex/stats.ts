/** Latency summaries shared by the Node and pgbench legs. */

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of milliseconds (sorts `values` in place). */
export function summarise(values: number[] | Float64Array): LatencySummary {
  const sorted = values instanceof Float64Array ? values.sort() : Float64Array.from(values).sort();
  const at = (p: number) => (sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((sorted.length * p) / 100) - 1))] ?? Number.NaN));
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: sorted.length, mean: sorted.length ? sum / sorted.length : Number.NaN, p50: at(50), p95: at(95), p99: at(99), max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN };
}

/** A growable list of numbers (latencies of a long run without boxing each one). */
export class Samples {
  private data = new Float64Array(4096);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  values(): Float64Array {
    return this.data.slice(0, this.length);
  }
}
