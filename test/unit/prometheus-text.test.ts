import type { BatchObservableResult } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import { keepFresh, SeriesTracker } from '../../src/db/fresh-series.ts';
import { toPrometheusText } from '../../src/ops/telemetry/prometheus-text.ts';
import { TestMetricReader } from '../helpers/metrics.ts';

async function collect(reader: TestMetricReader) {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics;
}

describe('toPrometheusText', () => {
  it('writes counters, gauges and histograms with suffixes, escaped labels and one family across scopes', async () => {
    const reader = new TestMetricReader();
    const provider = new MeterProvider({ readers: [reader], resource: resourceFromAttributes({ 'service.name': 'svc', 'service.instance.id': 'a"b' }) });
    const one = provider.getMeter('jeex-db', '1.0.0');
    const two = provider.getMeter('jeex-db');
    one.createCounter('jobs.done', { unit: '{job}', description: 'Jobs\ndone' }).add(3, { 'queue.name': 'a\\b' });
    two.createCounter('jobs.done', { unit: '{job}', description: 'Jobs\ndone' }).add(2, { 'queue.name': 'c' });
    const histogram = one.createHistogram('job.duration', { unit: 's', description: 'Duration', advice: { explicitBucketBoundaries: [0.1, 1] } });
    for (const seconds of [0.05, 0.5, 0.7, 3]) histogram.record(seconds);
    one.createObservableGauge('queue.depth', { description: 'Depth' }).addCallback((result) => result.observe(4));

    const text = toPrometheusText(await collect(reader));
    expect(text).toContain('# HELP target_info Target metadata\n# TYPE target_info gauge\n');
    expect(text).toMatch(/^target_info\{service_instance_id="a\\"b",service_name="svc"/m);
    expect(text.match(/^# TYPE jobs_done_total counter$/gm)).toHaveLength(1);
    expect(text).toContain('# HELP jobs_done_total Jobs\\ndone\n');
    expect(text).toContain('jobs_done_total{queue_name="a\\\\b"} 3\n');
    expect(text).toContain('jobs_done_total{queue_name="c"} 2\n');
    expect(text).toContain('# TYPE job_duration_seconds histogram\n');
    expect(text).toContain('job_duration_seconds_bucket{le="0.1"} 1\njob_duration_seconds_bucket{le="1"} 3\njob_duration_seconds_bucket{le="+Inf"} 4\n');
    expect(text).toContain('job_duration_seconds_sum 4.25\njob_duration_seconds_count 4\n');
    expect(text).toContain('queue_depth 4\n');
    await provider.shutdown();
  });
});

describe('keepFresh', () => {
  it('drops the series a tracked callback did not observe in its latest run, and all of them once it closed', async () => {
    const reader = new TestMetricReader();
    const provider = new MeterProvider({ readers: [reader] });
    const meter = provider.getMeter('test');
    const rows = meter.createObservableGauge('fresh.rows');
    const tracker = new SeriesTracker([[rows, 'fresh.rows']]);
    let tables = ['a', 'b'];
    const callback = (result: BatchObservableResult) => tracker.run(result, (tracked) => tables.forEach((table) => tracked.observe(rows, 1, { table })));
    meter.addBatchObservableCallback(callback, [rows]);

    const tablesOf = async () => {
      const metrics = keepFresh(await collect(reader)).scopeMetrics.flatMap((s) => s.metrics);
      return metrics.flatMap((m) => m.dataPoints.map((p) => p.attributes.table)).sort();
    };
    expect(await tablesOf()).toEqual(['a', 'b']);
    tables = ['b'];
    // The SDK alone still reports 'a' with its last value; keepFresh does not.
    const raw = (await collect(reader)).scopeMetrics.flatMap((s) => s.metrics).flatMap((m) => m.dataPoints.map((p) => p.attributes.table));
    expect(raw.sort()).toEqual(['a', 'b']);
    expect(await tablesOf()).toEqual(['b']);
    meter.removeBatchObservableCallback(callback, [rows]);
    tracker.close();
    expect(await tablesOf()).toEqual([]);
    await provider.shutdown();
  });
});
