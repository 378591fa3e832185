import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics, type Meter } from '@opentelemetry/api';
// Types only: the SDK and the exporters are imported when startTelemetry runs (the exporters
// only when their reader is configured), so importing the package does not load them.
import type { IMetricReader, MeterProvider } from '@opentelemetry/sdk-metrics';
import { JeexDbError } from '../../core/errors.ts';
import { packageVersion } from '../../core/package.ts';
import { resolveTelemetryConfig, type ResolvedOtlp, type TelemetryConfigInput } from './config.ts';

export interface TelemetryOptions extends TelemetryConfigInput {
  /**
   * Register the provider as @opentelemetry/api's global one, so the metrics `createDb()` and
   * `collectPoolerMetrics()` record through the API are exported too. Default true; refused
   * (INVALID_CONFIG) when another provider is registered already.
   */
  global?: boolean;
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

  if (config.otlp) {
    const exporterOptions = { url: config.otlp.url, headers: config.otlp.headers, timeoutMillis: config.otlp.requestTimeoutMillis };
    // http/protobuf is the OTLP default and what every collector accepts; http/json on request.
    const exporter =
      config.otlp.protocol === 'http/json'
        ? new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(exporterOptions)
        : new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(exporterOptions);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.otlp.intervalMillis,
        exportTimeoutMillis: config.otlp.exportTimeoutMillis,
      }),
    );
  }

  let prometheus: PrometheusEndpoint | undefined;
  if (config.prometheus) {
    const { PrometheusExporter } = await import('@opentelemetry/exporter-prometheus');
    const exporter = new PrometheusExporter({ preventServerStart: true });
    readers.push(exporter);
    prometheus = { handler: (request, response) => exporter.getMetricsRequestHandler(request, response) };
  }

  const resource = defaultResource().merge(
    resourceFromAttributes({ ...config.resourceAttributes, 'service.name': config.serviceName, 'service.version': packageVersion() }),
  );
  const provider = new MeterProvider({ resource, readers });

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
    meter: provider.getMeter('jeex-db', packageVersion()),
    ...(config.otlp && { otlp: withoutHeaderValues(config.otlp) }),
    ...(prometheus && { prometheus }),
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
