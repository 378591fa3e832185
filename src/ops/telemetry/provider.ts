import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics, type Meter } from '@opentelemetry/api';
import type { Logger } from 'pino';
// Types only: the SDK and the exporters are imported when startTelemetry runs (the exporters
// only when their reader is configured), so importing the package does not load them.
import type { IMetricReader, MeterProvider } from '@opentelemetry/sdk-metrics';
import { JeexDbError } from '../../core/errors.ts';
import { packageVersion } from '../../core/package.ts';
import { resolveTelemetryConfig, type ResolvedOtlp, type TelemetryConfigInput } from './config.ts';
import { ExportFailureLog, FreshMetricExporter } from './export-failures.ts';
import { instanceIdentity, type InstanceIdentity } from './identity.ts';

export interface TelemetryOptions extends TelemetryConfigInput {
  /**
   * Register the provider as @opentelemetry/api's global one, so the metrics `createDb()` and
   * `collectPoolerMetrics()` record through the API are exported too. Default true; refused
   * (INVALID_CONFIG) when another provider is registered already.
   */
  global?: boolean;
  /** Where failed OTLP exports are logged (rate-limited: the first, then one line a minute, and the recovery). Default: not logged. */
  logger?: Logger;
  /** `service.instance.id` of the resource; wins over `OTEL_RESOURCE_ATTRIBUTES`. */
  instanceId?: string;
  /** `service.instance.id` when neither `instanceId` nor `OTEL_RESOURCE_ATTRIBUTES` sets one (e.g. `${hostname}:${port}`). Default: the host name. */
  defaultInstanceId?: string;
}

export interface PrometheusEndpoint {
  /** Answers a scrape with the text exposition format; mount it at GET /metrics. */
  handler(request: IncomingMessage, response: ServerResponse): void;
}

export interface Telemetry {
  provider: MeterProvider;
  /** `provider.getMeter('jeex-db')`: pass it to `registerServerMetrics`. */
  meter: Meter;
  /** Where OTLP goes (no headers: they may hold credentials); absent when OTLP is off. */
  otlp?: Omit<ResolvedOtlp, 'headers'> & { headerNames: string[] };
  /** Present when the Prometheus reader is on. */
  prometheus?: PrometheusEndpoint;
  /** `host.name` and `service.instance.id` of the resource. */
  identity: InstanceIdentity;
  /** True when this provider is the global one. */
  global: boolean;
  /** Collect and export now (OTLP); resolves when the collector answered or the export timed out. */
  forceFlush(): Promise<void>;
  /** Export what is pending, stop the readers, and unregister the global provider. */
  shutdown(): Promise<void>;
}


/**
 * Start exporting metrics: an OTLP/HTTP exporter (configured by the standard `OTEL_*`
 * variables, on when an endpoint is set or `otlp` is given) and/or a Prometheus reader whose
 * handler your HTTP server mounts at /metrics. Throws `INVALID_CONFIG` naming each bad
 * variable, and refuses gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, port 4317): we speak
 * OTLP/HTTP, port 4318.
 *
 * Start it before `createDb()`: meters taken from @opentelemetry/api before a provider is
 * registered stay no-op. It resolves once the SDK (and the exporters that are configured) are
 * loaded: they are imported here, not when the package is.
 *
 * @example
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318
 * const telemetry = await startTelemetry({ prometheus: true });
 * const { sql } = createDb();
 * const server = registerServerMetrics(telemetry.meter, monitorSql);
 * httpServer.on('request', (req, res) => req.url === '/metrics' && telemetry.prometheus?.handler(req, res));
 * // on shutdown:
 * server.close(); await telemetry.shutdown();
 */
export async function startTelemetry(options: TelemetryOptions = {}): Promise<Telemetry> {
  const config = resolveTelemetryConfig(options);
  const [{ MeterProvider, PeriodicExportingMetricReader }, { defaultResource, resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/resources'),
  ]);
  const readers: IMetricReader[] = [];
  let failures: ExportFailureLog | undefined;

  if (config.otlp) {
    const exporterOptions = { url: config.otlp.url, headers: config.otlp.headers, timeoutMillis: config.otlp.requestTimeoutMillis };
    // http/protobuf is the OTLP default and what every collector accepts; http/json on request.
    const exporter =
      config.otlp.protocol === 'http/json'
        ? new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(exporterOptions)
        : new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(exporterOptions);
    failures = new ExportFailureLog({ target: config.otlp.url, ...(options.logger ? { logger: options.logger } : {}) });
    readers.push(
      new PeriodicExportingMetricReader({
        // Only the series still observed go out, and every failed export is counted and logged.
        exporter: new FreshMetricExporter(exporter, failures),
        exportIntervalMillis: config.otlp.intervalMillis,
        exportTimeoutMillis: config.otlp.exportTimeoutMillis,
      }),
    );
  }

  let prometheus: PrometheusEndpoint | undefined;
  if (config.prometheus) {
    // Our own pull reader and serializer, not @opentelemetry/exporter-prometheus: it drops the
    // series no longer observed and writes the names with their unit and _total suffixes.
    const { PrometheusReader } = await import('./prometheus-reader.ts');
    const reader = new PrometheusReader();
    readers.push(reader);
    prometheus = { handler: (request, response) => reader.handler(request, response) };
  }

  const identity = instanceIdentity({
    ...(options.env ? { env: options.env } : {}),
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    ...(options.defaultInstanceId ? { defaultInstanceId: options.defaultInstanceId } : {}),
  });
  const resource = defaultResource().merge(
    resourceFromAttributes({
      'host.name': identity.hostName,
      ...config.resourceAttributes,
      'service.instance.id': identity.instanceId,
      'service.name': config.serviceName,
      'service.version': packageVersion(),
    }),
  );
  const provider = new MeterProvider({ resource, readers });
  const meter = provider.getMeter('jeex-db', packageVersion());
  if (failures) {
    const log = failures;
    meter
      .createObservableCounter('jeex_db.telemetry.export.failures', { unit: '{failure}', description: 'OTLP metric exports that failed (the collector refused, answered an error or timed out)' })
      .addCallback((result) => result.observe(log.failures));
  }

  // With no reader there is nothing to export: leave the global slot to whoever needs it.
  const wantGlobal = (options.global ?? true) && readers.length > 0;
  if (wantGlobal && !metrics.setGlobalMeterProvider(provider)) {
    void provider.shutdown();
    throw new JeexDbError('INVALID_CONFIG', 'another OpenTelemetry MeterProvider is registered globally already; jeex-db did not start its own', {
      hint: 'Call startTelemetry once, before createDb(); if the service sets up @opentelemetry/sdk-node itself, pass { global: false } and add the readers there.',
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    provider,
    meter,
    ...(config.otlp && { otlp: withoutHeaderValues(config.otlp) }),
    ...(prometheus && { prometheus }),
    identity,
    global: wantGlobal,
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          if (wantGlobal) metrics.disable();
        }
      })()),
  };
}

function withoutHeaderValues({ headers, ...rest }: ResolvedOtlp): NonNullable<Telemetry['otlp']> {
  return { ...rest, headerNames: Object.keys(headers) };
}
