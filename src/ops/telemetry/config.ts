import { JeexDbError } from '../../core/errors.ts';
import { invalidDuration, parseDuration } from '../../core/units.ts';

/** The OTLP/HTTP port of an OpenTelemetry Collector; 4317 is its gRPC port. */
export const OTLP_HTTP_PORT = 4318;
export const OTLP_GRPC_PORT = 4317;

/** What the caller may set in code; each field wins over its environment variable. */
export interface OtlpOptions {
  /** Base URL of the collector, `/v1/metrics` is appended (like `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  endpoint?: string;
  /** Full URL of the metrics endpoint, used as is (like `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`). */
  url?: string;
  /** Extra request headers, e.g. an API key (like `OTEL_EXPORTER_OTLP_HEADERS`). */
  headers?: Record<string, string>;
  /** `http/json` or `http/protobuf`; `grpc` is refused (like `OTEL_EXPORTER_OTLP_PROTOCOL`). */
  protocol?: string;
  /** Milliseconds between exports (like `OTEL_METRIC_EXPORT_INTERVAL`, which also takes `60s`). Default 60000. */
  intervalMillis?: number;
  /** Milliseconds one collection + export may take (like `OTEL_METRIC_EXPORT_TIMEOUT`). Default 30000. */
  exportTimeoutMillis?: number;
  /** Milliseconds one HTTP request may take (like `OTEL_EXPORTER_OTLP_TIMEOUT`). Default 10000. */
  requestTimeoutMillis?: number;
}

export interface TelemetryConfigInput {
  /** `service.name` of the resource. Default: `OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else 'jeex-db'. */
  serviceName?: string;
  /** Export to an OTLP/HTTP collector. `true` uses the environment (or the default endpoint). */
  otlp?: OtlpOptions | boolean;
  /** Keep a Prometheus reader whose handler an HTTP server we own mounts at /metrics. */
  prometheus?: boolean;
  /**
   * The environment to read. Default `process.env`. (The OTLP exporter itself also reads
   * `process.env` for TLS files, compression, temporality and extra headers; ours win.)
   */
  env?: Record<string, string | undefined>;
}

export interface ResolvedOtlp {
  /** The metrics URL requests go to (…/v1/metrics). */
  url: string;
  /** The encoding: protobuf (the OTLP default) or JSON. */
  protocol: 'http/json' | 'http/protobuf';
  /** Header names and values: values may be secrets, never print them. */
  headers: Record<string, string>;
  intervalMillis: number;
  exportTimeoutMillis: number;
  requestTimeoutMillis: number;
}

export interface TelemetryConfig {
  serviceName: string;
  /** Resource attributes from `OTEL_RESOURCE_ATTRIBUTES` (service.name and service.version are set apart). */
  resourceAttributes: Record<string, string>;
  otlp?: ResolvedOtlp;
  prometheus: boolean;
}

const DEFAULT_INTERVAL = 60_000;
const DEFAULT_EXPORT_TIMEOUT = 30_000;
const DEFAULT_REQUEST_TIMEOUT = 10_000;
const METRICS_PATH = 'v1/metrics';

/**
 * Read the standard OpenTelemetry variables (and the options, which win) into one typed
 * configuration, reporting every problem at once with the variable to fix. Pure: no I/O.
 *
 * @example
 * const config = resolveTelemetryConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' } });
 * config.otlp?.url; // 'http://otel:4318/v1/metrics'
 */
export function resolveTelemetryConfig(input: TelemetryConfigInput = {}): TelemetryConfig {
  const env = input.env ?? process.env;
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const problems: string[] = [];

  const resourceAttributes = parsePairs(get('OTEL_RESOURCE_ATTRIBUTES'), 'OTEL_RESOURCE_ATTRIBUTES', problems, false);
  const serviceName = input.serviceName ?? get('OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? 'jeex-db';
  delete resourceAttributes['service.name'];
  delete resourceAttributes['service.version'];

  // OTEL_METRICS_EXPORTER: otlp, prometheus, none (comma-separated), as the SDKs read it.
  const exporters = new Set<string>();
  const exporterVar = get('OTEL_METRICS_EXPORTER');
  for (const name of exporterVar?.split(',').map((s) => s.trim()).filter(Boolean) ?? []) {
    if (['otlp', 'prometheus', 'none', 'console'].includes(name)) exporters.add(name);
    else problems.push(`OTEL_METRICS_EXPORTER must list otlp, prometheus or none, got ${JSON.stringify(name)}`);
  }
  if (exporters.has('console')) problems.push('OTEL_METRICS_EXPORTER=console is not supported: jeex-db never writes to the console; use otlp or prometheus');
  // OTEL_SDK_DISABLED=true turns every exporter off, as the specification says. Only `true` (any
  // case), not the wider grammar of core/units.ts: the specification reads every other value as
  // false, and an OpenTelemetry SDK in the same process must agree with us on what it means.
  const none = exporters.has('none') || get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';

  const endpointVar = get('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') ? 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const fromEnv = get(endpointVar);
  const options = typeof input.otlp === 'object' ? input.otlp : {};
  const otlpWanted = !none && (input.otlp === undefined ? fromEnv !== undefined || exporters.has('otlp') : input.otlp !== false);

  let otlp: ResolvedOtlp | undefined;
  if (otlpWanted) {
    const url = metricsUrl(options, endpointVar, fromEnv, problems);
    const protocol = resolveProtocol(options.protocol, get, problems);
    const headers = {
      ...parsePairs(get('OTEL_EXPORTER_OTLP_HEADERS'), 'OTEL_EXPORTER_OTLP_HEADERS', problems, true),
      ...parsePairs(get('OTEL_EXPORTER_OTLP_METRICS_HEADERS'), 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', problems, true),
      ...options.headers,
    };
    const interval = millis(options.intervalMillis, 'option otlp.intervalMillis', get('OTEL_METRIC_EXPORT_INTERVAL'), 'OTEL_METRIC_EXPORT_INTERVAL', problems);
    const exportTimeout = millis(options.exportTimeoutMillis, 'option otlp.exportTimeoutMillis', get('OTEL_METRIC_EXPORT_TIMEOUT'), 'OTEL_METRIC_EXPORT_TIMEOUT', problems);
    const requestVar = get('OTEL_EXPORTER_OTLP_METRICS_TIMEOUT') ? 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT';
    const requestTimeout = millis(options.requestTimeoutMillis, 'option otlp.requestTimeoutMillis', get(requestVar), requestVar, problems);
    const intervalMillis = interval?.value ?? DEFAULT_INTERVAL;
    let exportTimeoutMillis = exportTimeout?.value ?? DEFAULT_EXPORT_TIMEOUT;
    if (exportTimeoutMillis > intervalMillis) {
      // A collection must end before the next one starts; only refuse when both were set.
      if (interval && exportTimeout) problems.push(`${exportTimeout.from} (${exportTimeoutMillis}) must not exceed ${interval.from} (${intervalMillis})`);
      exportTimeoutMillis = intervalMillis;
    }
    if (url && protocol) {
      otlp = { url, protocol, headers, intervalMillis, exportTimeoutMillis, requestTimeoutMillis: requestTimeout?.value ?? DEFAULT_REQUEST_TIMEOUT };
    }
  }

  if (problems.length > 0) {
    throw new JeexDbError('INVALID_CONFIG', `invalid telemetry configuration:\n  - ${problems.join('\n  - ')}`, {
      hint: `jeex-db exports OTLP over HTTP to a collector's port ${OTLP_HTTP_PORT} (e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:${OTLP_HTTP_PORT}); fix the variables named above.`,
      context: { problems },
    });
  }
  return {
    serviceName,
    resourceAttributes,
    ...(otlp && { otlp }),
    prometheus: !none && (input.prometheus ?? exporters.has('prometheus')),
  };
}

function metricsUrl(options: OtlpOptions, endpointVar: string, fromEnv: string | undefined, problems: string[]): string | undefined {
  // A full URL is used as is; a base endpoint gets /v1/metrics (the specification's rule).
  const [raw, from, full] = options.url
    ? [options.url, 'option otlp.url', true]
    : options.endpoint
      ? [options.endpoint, 'option otlp.endpoint', false]
      : fromEnv
        ? [fromEnv, endpointVar, endpointVar === 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']
        : [`http://localhost:${OTLP_HTTP_PORT}`, 'the default endpoint', false];
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    problems.push(`${from} is not a URL (${JSON.stringify(raw)}); expected e.g. http://otel-collector:${OTLP_HTTP_PORT}`);
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    problems.push(`${from} must start with http:// or https://, not ${parsed.protocol}//`);
    return undefined;
  }
  if (parsed.port === String(OTLP_GRPC_PORT)) {
    problems.push(
      `${from} points at port ${OTLP_GRPC_PORT}, the collector's gRPC port; jeex-db speaks OTLP/HTTP, which the collector receives on port ${OTLP_HTTP_PORT}`,
    );
    return undefined;
  }
  if (full) return raw;
  return `${raw.replace(/\/+$/, '')}/${METRICS_PATH}`;
}

function resolveProtocol(option: string | undefined, get: (name: string) => string | undefined, problems: string[]): ResolvedOtlp['protocol'] | undefined {
  const from = option !== undefined ? 'option otlp.protocol' : get('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = option ?? get(from) ?? 'http/protobuf';
  if (value === 'http/json' || value === 'http/protobuf') return value;
  if (value === 'grpc') {
    problems.push(
      `${from}=grpc is not supported: jeex-db speaks OTLP/HTTP (http/protobuf or http/json), which the collector receives on port ${OTLP_HTTP_PORT}, not gRPC on port ${OTLP_GRPC_PORT}; set ${from}=http/json and point the endpoint at port ${OTLP_HTTP_PORT}`,
    );
  } else {
    problems.push(`${from} must be http/json or http/protobuf, got ${JSON.stringify(value)}`);
  }
  return undefined;
}

function millis(option: number | undefined, optionName: string, raw: string | undefined, variable: string, problems: string[]): { value: number; from: string } | undefined {
  if (option !== undefined) {
    if (Number.isInteger(option) && option > 0) return { value: option, from: optionName };
    problems.push(`${optionName} must be a whole number of milliseconds above 0, got ${JSON.stringify(option)}`);
    return undefined;
  }
  if (raw === undefined) return undefined;
  // The specification's whole milliseconds (`60000`) read the same; a unit (`60s`) is ours.
  const value = parseDuration(raw, { defaultUnit: 'ms' });
  if (value !== undefined && value > 0) return { value, from: variable };
  problems.push(value === undefined ? invalidDuration(variable, raw, { defaultUnit: 'ms' }) : `${variable} must be above 0, got ${JSON.stringify(raw)}`);
  return undefined;
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES` read leniently: malformed entries are left out (`startTelemetry`
 * reports them).
 *
 * @example
 * parseResourceAttributes('service.instance.id=db-1,deployment.environment=prod')['service.instance.id']; // 'db-1'
 */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  return parsePairs(raw?.trim() || undefined, 'OTEL_RESOURCE_ATTRIBUTES', [], false);
}

/**
 * `key1=value1,key2=value2` with percent-encoded values (W3C Baggage style, as the
 * specification reads OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES). Header values
 * can be credentials, so a problem names the entry's position and key, never its value.
 */
function parsePairs(raw: string | undefined, variable: string, problems: string[], secret: boolean): Record<string, string> {
  const pairs: Record<string, string> = {};
  if (raw === undefined) return pairs;
  raw.split(',').forEach((entry, index) => {
    if (!entry.trim()) return;
    const at = entry.indexOf('=');
    const key = at > 0 ? entry.slice(0, at).trim() : '';
    if (!key) {
      problems.push(`${variable}: entry ${index + 1} is not key=value${secret ? '' : ` (${JSON.stringify(entry)})`}; expected e.g. ${secret ? 'api-key=SECRET,x-team=db' : 'deployment.environment=prod'}`);
      return;
    }
    try {
      pairs[key] = decodeURIComponent(entry.slice(at + 1).trim());
    } catch {
      problems.push(`${variable}: the value of ${key} is not valid percent-encoding`);
    }
  });
  return pairs;
}
