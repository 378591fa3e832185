import { metrics, type Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type Histogram } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, expect } from 'vitest';
import { keepFresh } from '../../src/db/fresh-series.ts';

/** A reader the test collects from when it wants, like a Prometheus scrape. */
export class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}

  /**
   * Everything recorded so far, by instrument name; fails on any SDK collection error. `fresh`:
   * only what our readers export (`keepFresh`: no series a callback stopped observing).
   */
  async snapshot(options: { fresh?: boolean } = {}): Promise<MetricsSnapshot> {
    const collected = await this.collect();
    const { errors } = collected;
    const resourceMetrics = options.fresh ? keepFresh(collected.resourceMetrics) : collected.resourceMetrics;
    if (errors.length > 0) throw new Error(`the SDK reported collection errors: ${errors.map(String).join('; ')}`);
    const byName = new Map<string, { attributes: Attributes; value: unknown }[]>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const points = byName.get(metric.descriptor.name) ?? [];
        for (const point of metric.dataPoints as { attributes: Attributes; value: unknown }[]) points.push({ attributes: point.attributes, value: point.value });
        byName.set(metric.descriptor.name, points);
      }
    }
    return new MetricsSnapshot(byName);
  }
}

const matches = (attributes: Attributes, wanted: Attributes) => Object.entries(wanted).every(([key, value]) => attributes[key] === value);

export class MetricsSnapshot {
  constructor(private readonly byName: Map<string, { attributes: Attributes; value: unknown }[]>) {}

  /** Data points of `name` whose attributes include `wanted`. */
  points(name: string, wanted: Attributes = {}): { attributes: Attributes; value: unknown }[] {
    return (this.byName.get(name) ?? []).filter((point) => matches(point.attributes, wanted));
  }

  /** The value of the one counter/gauge data point of `name` matching `wanted`. */
  value(name: string, wanted: Attributes = {}): number {
    const points = this.points(name, wanted);
    if (points.length !== 1) throw new Error(`expected one ${name} point for ${JSON.stringify(wanted)}, found ${points.length}: ${JSON.stringify(points)}`);
    return points[0]?.value as number;
  }

  /** Count and sum of the histogram points of `name` matching `wanted`, added up. */
  histogram(name: string, wanted: Attributes = {}): { count: number; sum: number; min: number; max: number } {
    return this.points(name, wanted).reduce(
      (total, point) => {
        const h = point.value as Histogram;
        return { count: total.count + h.count, sum: total.sum + (h.sum ?? 0), min: Math.min(total.min, h.min ?? Infinity), max: Math.max(total.max, h.max ?? -Infinity) };
      },
      { count: 0, sum: 0, min: Infinity, max: -Infinity },
    );
  }
}

/**
 * A MeterProvider with a TestMetricReader registered as @opentelemetry/api's global one for this
 * test file (each file runs in its own process), before any client takes a meter: meters taken
 * from the API without a provider stay no-op. Removed again after the file.
 */
export function useGlobalTestMetrics(): TestMetricReader {
  const reader = new TestMetricReader();
  const provider = new MeterProvider({ readers: [reader] });
  beforeAll(() => {
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
  });
  afterAll(async () => {
    metrics.disable();
    await provider.shutdown();
  });
  return reader;
}

/** A Prometheus text exposition's samples of `name` whose labels include every `labels` pair. */
export function samples(text: string, name: string, labels: Record<string, string>): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const parsed: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) parsed[key!] = value!;
    if (Object.entries(labels).every(([key, value]) => parsed[key] === value)) found.push({ labels: parsed, value: Number(match[3]) });
  }
  return found;
}

/** The value of the one sample of `name` matching `labels`; throws when there is none or several. */
export function sampleValue(text: string, name: string, labels: Record<string, string>): number {
  const found = samples(text, name, labels);
  if (found.length !== 1) throw new Error(`expected one ${name} sample with ${JSON.stringify(labels)}, found ${found.length}: ${JSON.stringify(found)}`);
  return found[0]!.value;
}
