import type { IncomingMessage, ServerResponse } from 'node:http';
import { MetricReader } from '@opentelemetry/sdk-metrics';
import { keepFresh } from '../../db/fresh-series.ts';
import { PROMETHEUS_CONTENT_TYPE, toPrometheusText } from './prometheus-text.ts';

/**
 * A pull reader: each scrape collects (running the metrics' callbacks), drops the series the
 * callbacks no longer observe (`keepFresh`) and answers in the text exposition format with the
 * Prometheus names of `prometheusName`. Loaded by `startTelemetry` only (it imports the SDK).
 */
export class PrometheusReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}

  /** The exposition text of a collection now. */
  async scrape(): Promise<string> {
    const { resourceMetrics, errors } = await this.collect();
    // A callback that threw leaves its instruments out; the rest is still worth serving.
    void errors;
    return toPrometheusText(keepFresh(resourceMetrics));
  }

  /** Answer GET /metrics. */
  handler(_request: IncomingMessage, response: ServerResponse): void {
    this.scrape().then(
      (text) => {
        response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text);
      },
      (error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`# metrics collection failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  }
}
