/** Operation times of the last `windowMs`, as `createDb(...).operations()` returns them. */
export interface OperationStats {
  /** Operations that finished within the window. */
  count: number;
  /** Percentiles of their durations, ms; null when none finished. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  windowSeconds: number;
}

/**
 * The durations of the operations that finished in the last `windowMs` (at most `capacity` of
 * them: beyond that the oldest go first), for a p95 against the SLO in health checks. The
 * OpenTelemetry histogram keeps the full record; this is what the process can answer itself.
 *
 * @example
 * const window = new OperationWindow();
 * window.record(12.5);
 * window.stats().p95Ms; // 12.5
 */
export class OperationWindow {
  private readonly at: Float64Array;
  private readonly ms: Float64Array;
  private next = 0;
  private size = 0;

  constructor(
    private readonly windowMs = 60_000,
    capacity = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.at = new Float64Array(capacity);
    this.ms = new Float64Array(capacity);
  }

  record(durationMs: number): void {
    this.at[this.next] = this.now();
    this.ms[this.next] = durationMs;
    this.next = (this.next + 1) % this.at.length;
    this.size = Math.min(this.size + 1, this.at.length);
  }

  stats(): OperationStats {
    const since = this.now() - this.windowMs;
    const recent: number[] = [];
    for (let i = 0; i < this.size; i++) if ((this.at[i] ?? 0) >= since) recent.push(this.ms[i] ?? 0);
    recent.sort((a, b) => a - b);
    const pick = (p: number) => (recent.length === 0 ? null : (recent[Math.min(recent.length - 1, Math.ceil((recent.length * p) / 100) - 1)] ?? null));
    return { count: recent.length, p50Ms: pick(50), p95Ms: pick(95), p99Ms: pick(99), windowSeconds: this.windowMs / 1000 };
  }
}
