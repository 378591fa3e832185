import type { Attributes } from '@opentelemetry/api';
import type { Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { prometheusName, sanitizeLabel } from './prometheus-names.ts';

/** The SDK's DataPointType values (types only are imported: the SDK loads when telemetry starts). */
const POINT = { HISTOGRAM: 0, EXPONENTIAL_HISTOGRAM: 1, GAUGE: 2, SUM: 3 } as const;

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Kind = 'counter' | 'gauge' | 'histogram';

interface Family {
  name: string;
  kind: Kind;
  help: string;
  /** Sample lines, keyed by their label set so a duplicate series is written once. */
  series: Map<string, string[]>;
}

const escapeLabelValue = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function attributeText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) || (typeof value === 'object' && value !== null)) return JSON.stringify(value);
  return String(value);
}

/** Attributes as sorted `name="value"` pairs; attributes that sanitize to one name are joined with `;`. */
function labelPairs(attributes: Attributes, extra: [string, string][] = []): [string, string][] {
  const labels = new Map<string, string>();
  for (const key of Object.keys(attributes).sort()) {
    const value = attributes[key];
    if (value === undefined || value === null) continue;
    const name = sanitizeLabel(key);
    const text = attributeText(value);
    labels.set(name, labels.has(name) ? `${labels.get(name)};${text}` : text);
  }
  for (const [name, value] of extra) labels.set(name, value);
  return [...labels];
}

const labelText = (pairs: [string, string][]) => (pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`);

function kindOf(metric: MetricData): Kind | undefined {
  switch (metric.dataPointType as number) {
    case POINT.HISTOGRAM:
      return 'histogram';
    case POINT.GAUGE:
      return 'gauge';
    case POINT.SUM:
      // A non-monotonic sum (an UpDownCounter) is a gauge to Prometheus.
      return (metric as { isMonotonic?: boolean }).isMonotonic ? 'counter' : 'gauge';
    default:
      return undefined; // exponential histograms: we record none
  }
}

function sampleLines(name: string, kind: Kind, attributes: Attributes, value: unknown): string[] {
  if (kind !== 'histogram') return [`${name}${labelText(labelPairs(attributes))} ${formatValue(Number(value))}`];
  const histogram = value as Histogram;
  const lines: string[] = [];
  let cumulative = 0;
  histogram.buckets.boundaries.forEach((boundary, index) => {
    cumulative += histogram.buckets.counts[index] ?? 0;
    lines.push(`${name}_bucket${labelText(labelPairs(attributes, [['le', formatValue(boundary)]]))} ${cumulative}`);
  });
  lines.push(`${name}_bucket${labelText(labelPairs(attributes, [['le', '+Inf']]))} ${histogram.count}`);
  lines.push(`${name}_sum${labelText(labelPairs(attributes))} ${formatValue(histogram.sum ?? 0)}`);
  lines.push(`${name}_count${labelText(labelPairs(attributes))} ${histogram.count}`);
  return lines;
}

/**
 * The Prometheus text exposition format (0.0.4) of collected metrics: names and suffixes by
 * `prometheusName`, attributes as labels (`.` → `_`), the resource as `target_info`. Metrics of
 * several scopes under one Prometheus name are written as one family; a second metric of another
 * type under the same name, or a repeated label set, is left out (promtool refuses both).
 *
 * @example
 * const { resourceMetrics } = await reader.collect();
 * response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(toPrometheusText(resourceMetrics));
 */
export function toPrometheusText(resourceMetrics: ResourceMetrics): string {
  const families = new Map<string, Family>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const kind = kindOf(metric);
      if (!kind) continue;
      const name = prometheusName(metric.descriptor.name, metric.descriptor.unit, kind);
      let family = families.get(name);
      if (!family) families.set(name, (family = { name, kind, help: metric.descriptor.description || metric.descriptor.name, series: new Map() }));
      if (family.kind !== kind) continue;
      for (const point of metric.dataPoints as { attributes: Attributes; value: unknown }[]) {
        const key = labelText(labelPairs(point.attributes));
        if (!family.series.has(key)) family.series.set(key, sampleLines(name, kind, point.attributes, point.value));
      }
    }
  }

  const out: string[] = [];
  const resourceLabels = labelPairs(resourceMetrics.resource.attributes);
  if (resourceLabels.length > 0) {
    out.push('# HELP target_info Target metadata', '# TYPE target_info gauge', `target_info${labelText(resourceLabels)} 1`);
  }
  for (const family of families.values()) {
    if (family.series.size === 0) continue;
    out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.kind}`);
    for (const lines of family.series.values()) out.push(...lines);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
