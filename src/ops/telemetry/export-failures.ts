import type { AggregationOption, AggregationTemporality, InstrumentType, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import { keepFresh } from '../../db/fresh-series.ts';

type ExportResult = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];

/** ExportResultCode.SUCCESS of @opentelemetry/core (types only are imported here). */
const SUCCESS = 0;

export interface ExportFailureLogOptions {
  /** Where the lines go; without one nothing is logged (the count still grows). */
  logger?: Logger;
  /** What is exported to, for the lines, e.g. the OTLP URL (never with credentials). */
  target: string;
  /** At most one line per this many milliseconds while failing. Default 60000. */
  intervalMs?: number;
  now?: () => number;
}

/**
 * Rate-limited logging of export failures: the first failure of a streak is logged at once, then
 * at most one line per `intervalMs` with the number of failures since the last line, and one line
 * when an export works again. `failures` counts them all (the `jeex_db.telemetry.export.failures`
 * counter).
 *
 * @example
 * const log = new ExportFailureLog({ logger, target: 'http://otel:4318/v1/metrics' });
 * log.failed(new Error('ECONNREFUSED')); // warn: OTLP export … failed
 */
export class ExportFailureLog {
  /** Failed exports since the start. */
  failures = 0;
  private streak = 0;
  private streakStartedAt = 0;
  private sinceLine = 0;
  private lastLineAt = 0;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ExportFailureLogOptions) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  failed(error: Error | undefined): void {
    const now = this.now();
    // The OTLP exporter's error for an HTTP answer carries the status as `code`.
    const status = (error as { code?: unknown } | undefined)?.code;
    const reason = `${error?.message || 'no reason given'}${typeof status === 'number' ? ` (HTTP ${status})` : ''}`;
    this.failures += 1;
    this.streak += 1;
    if (this.streak === 1) {
      this.streakStartedAt = now;
      this.lastLineAt = now;
      this.sinceLine = 0;
      this.options.logger?.warn({ target: this.options.target, err: reason }, `metrics export to ${this.options.target} failed: ${reason}; retried at each export interval (further failures are summarised once a minute)`);
      return;
    }
    this.sinceLine += 1;
    if (now - this.lastLineAt >= this.intervalMs) {
      this.options.logger?.warn(
        { target: this.options.target, failures: this.sinceLine, streak: this.streak, err: reason },
        `metrics export to ${this.options.target} still failing: ${this.sinceLine} more failed exports in the last ${Math.round((now - this.lastLineAt) / 1000)} s (${this.streak} since ${new Date(this.streakStartedAt).toISOString()}); last error: ${reason}`,
      );
      this.lastLineAt = now;
      this.sinceLine = 0;
    }
  }

  succeeded(): void {
    if (this.streak === 0) return;
    this.options.logger?.info(
      { target: this.options.target, streak: this.streak },
      `metrics export to ${this.options.target} works again after ${this.streak} failed exports since ${new Date(this.streakStartedAt).toISOString()}`,
    );
    this.streak = 0;
    this.sinceLine = 0;
  }
}

/**
 * Wraps the OTLP exporter: exports only the series our callbacks still observe (`keepFresh`) and
 * tells `log` how each export ended.
 */
export class FreshMetricExporter implements PushMetricExporter {
  selectAggregationTemporality?: (instrumentType: InstrumentType) => AggregationTemporality;
  selectAggregation?: (instrumentType: InstrumentType) => AggregationOption;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly log: ExportFailureLog,
  ) {
    if (inner.selectAggregationTemporality) this.selectAggregationTemporality = inner.selectAggregationTemporality.bind(inner);
    if (inner.selectAggregation) this.selectAggregation = inner.selectAggregation.bind(inner);
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.inner.export(keepFresh(metrics), (result) => {
      if ((result.code as number) === SUCCESS) this.log.succeeded();
      else this.log.failed(result.error);
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
