import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';

/**
 * The SDK keeps exporting an asynchronous instrument's series with its last value after a
 * callback stops observing it (cumulative temporality): a server that is down would show its
 * last readings forever. Each of our batch callbacks records, through a `SeriesTracker`, the
 * series it observed in its latest run; `keepFresh` drops every other point of the metrics a
 * tracker owns before anything is exported (Prometheus and OTLP alike).
 */
const trackers = new Set<SeriesTracker>();
/** Metric names some tracker ever owned: their unobserved points are dropped even after it closed. */
const trackedNames = new Set<string>();

const seriesKey = (attributes: Attributes): string =>
  JSON.stringify(
    Object.keys(attributes)
      .sort()
      .map((key) => [key, attributes[key]]),
  );

export class SeriesTracker {
  private latest = new Map<string, Set<string>>();
  private readonly names: Map<Observable, string>;

  /** `instruments`: each observable the callback observes, with its metric name. */
  constructor(instruments: Iterable<[Observable, string]>) {
    this.names = new Map(instruments);
    for (const name of this.names.values()) trackedNames.add(name);
    trackers.add(this);
  }

  /**
   * Run one collection's `emit` with a result that remembers what it observes; what it observed
   * replaces the previous run's series.
   */
  run(result: BatchObservableResult, emit: (result: BatchObservableResult) => void): void {
    const observed = new Map<string, Set<string>>();
    const tracking: BatchObservableResult = {
      observe: (observable, value, attributes = {}) => {
        const name = this.names.get(observable);
        if (name !== undefined) {
          let keys = observed.get(name);
          if (!keys) observed.set(name, (keys = new Set()));
          keys.add(seriesKey(attributes));
        }
        result.observe(observable, value, attributes);
      },
    };
    try {
      emit(tracking);
    } finally {
      this.latest = observed;
    }
  }

  has(name: string, attributes: Attributes): boolean {
    return this.latest.get(name)?.has(seriesKey(attributes)) ?? false;
  }

  /** Stop tracking: the series it observed are no longer exported. */
  close(): void {
    trackers.delete(this);
  }
}

const isFresh = (name: string, attributes: Attributes): boolean => {
  for (const tracker of trackers) if (tracker.has(name, attributes)) return true;
  return false;
};

/**
 * The collected metrics without the points no tracker observed in its latest run; metrics left
 * without points are dropped. Metrics no tracker owns (histograms, the pool's gauges) pass as
 * they are.
 *
 * @example
 * const { resourceMetrics } = await reader.collect();
 * serialize(keepFresh(resourceMetrics));
 */
export function keepFresh(resourceMetrics: ResourceMetrics): ResourceMetrics {
  return {
    resource: resourceMetrics.resource,
    scopeMetrics: resourceMetrics.scopeMetrics
      .map((scope) => ({
        scope: scope.scope,
        metrics: scope.metrics
          .map((metric): MetricData => {
            if (!trackedNames.has(metric.descriptor.name)) return metric;
            const points = (metric.dataPoints as { attributes: Attributes }[]).filter((point) => isFresh(metric.descriptor.name, point.attributes));
            return { ...metric, dataPoints: points } as MetricData;
          })
          .filter((metric) => metric.dataPoints.length > 0),
      }))
      .filter((scope) => scope.metrics.length > 0),
  };
}
