// startTelemetry registers its MeterProvider process-wide; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/port.ts';
import { startTelemetry, type Telemetry } from '../../src/ops/telemetry/provider.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { samples } from '../helpers/metrics.ts';

/** A pino logger whose lines the test reads. */
function capturingLogger(): { logger: pino.Logger; lines: { level: number; msg: string; failures?: number }[] } {
  const lines: { level: number; msg: string; failures?: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const env = (endpoint: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_METRIC_EXPORT_INTERVAL: '600000',
  OTEL_METRIC_EXPORT_TIMEOUT: '5000',
  OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
});

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

async function failuresCounted(telemetry: Telemetry): Promise<number> {
  const text = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const response = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    }) as unknown as ServerResponse;
    Object.assign(response, { writeHead: () => response, end: (body: string) => resolve(body) });
    telemetry.prometheus?.handler({} as IncomingMessage, response);
  });
  return samples(text, 'jeex_db_telemetry_export_failures_total', {})[0]?.value ?? Number.NaN;
}

describe('failed OTLP exports', () => {
  it('logs the first failure of a collector answering 500, counts every one, summarises later ones and logs the recovery', async () => {
    const { logger, lines } = capturingLogger();
    const telemetry = await startTelemetry({ env: env(receiver.url), prometheus: true, logger, global: false });
    try {
      receiver.answer(500);
      for (let i = 0; i < 3; i++) await telemetry.forceFlush().catch(() => undefined);
      expect(receiver.requests).toBeGreaterThanOrEqual(3);
      // One line for three failures within the minute: the first.
      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(new RegExp(`metrics export to ${receiver.url}/v1/metrics failed: Internal Server Error \\(HTTP 500\\)`));
      expect(await failuresCounted(telemetry)).toBe(3);

      receiver.answer(200);
      await telemetry.forceFlush();
      const recovered = lines.filter((line) => line.level === 30);
      expect(recovered).toHaveLength(1);
      expect(recovered[0]?.msg).toMatch(/works again after 3 failed exports/);
      // The counter went out with the export that worked.
      expect(receiver.last().value('jeex_db.telemetry.export.failures', {})).toBe(3);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('logs and counts a collector that refuses connections', async () => {
    const { logger, lines } = capturingLogger();
    const port = await freePort();
    const telemetry = await startTelemetry({ env: env(`http://127.0.0.1:${port}`), prometheus: true, logger, global: false });
    try {
      await telemetry.forceFlush().catch(() => undefined);
      await telemetry.forceFlush().catch(() => undefined);
      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(new RegExp(`metrics export to http://127.0.0.1:${port}/v1/metrics failed: .*ECONNREFUSED`));
      expect(await failuresCounted(telemetry)).toBe(2);
    } finally {
      await telemetry.shutdown().catch(() => undefined);
    }
  });
});
