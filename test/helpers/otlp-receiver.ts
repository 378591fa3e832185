import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
interface JsonPoint {
  attributes?: KeyValue[];
  asInt?: number | string;
  asDouble?: number;
  count?: number | string;
}
interface JsonMetric {
  name: string;
  sum?: { dataPoints: JsonPoint[] };
  gauge?: { dataPoints: JsonPoint[] };
  histogram?: { dataPoints: JsonPoint[] };
}
interface JsonRequest {
  resourceMetrics: { resource: { attributes: KeyValue[] }; scopeMetrics: { metrics: JsonMetric[] }[] }[];
}

export interface ReceivedPoint {
  attributes: Record<string, unknown>;
  value: number;
}

export interface ReceivedExport {
  resource: Record<string, unknown>;
  /** Points by metric name (histograms: their count). */
  metrics: Map<string, ReceivedPoint[]>;
  /** The value of the one point of `name` whose attributes include `wanted`. */
  value(name: string, wanted: Record<string, unknown>): number;
}

export interface OtlpReceiver {
  url: string;
  /** Exports answered 200, oldest first. */
  exports: ReceivedExport[];
  /** Requests received, whatever the answer. */
  requests: number;
  /** The status the next requests are answered with (200 by default). */
  answer(status: number): void;
  last(): ReceivedExport;
  close(): Promise<void>;
}

const decodeValue = (value: AnyValue): unknown => value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue));
const decodeAttributes = (attributes: KeyValue[] = []) => Object.fromEntries(attributes.map(({ key, value }) => [key, decodeValue(value)]));

function decode(body: JsonRequest): ReceivedExport[] {
  return body.resourceMetrics.map((rm) => {
    const metrics = new Map<string, ReceivedPoint[]>();
    for (const metric of rm.scopeMetrics.flatMap((scope) => scope.metrics)) {
      const data = metric.sum ?? metric.gauge ?? metric.histogram;
      const points = (data?.dataPoints ?? []).map((p) => ({ attributes: decodeAttributes(p.attributes), value: Number(p.asInt ?? p.asDouble ?? p.count) }));
      metrics.set(metric.name, [...(metrics.get(metric.name) ?? []), ...points]);
    }
    return {
      resource: decodeAttributes(rm.resource.attributes),
      metrics,
      value(name, wanted) {
        const found = (metrics.get(name) ?? []).filter((p) => Object.entries(wanted).every(([k, v]) => p.attributes[k] === v));
        if (found.length !== 1) throw new Error(`expected one ${name} point for ${JSON.stringify(wanted)}, found ${JSON.stringify(found)}`);
        return found[0]!.value;
      },
    };
  });
}

/** A real OTLP/HTTP receiver (POST /v1/metrics, JSON encoding) on a free port, whose answer a test can turn into an error. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  let status = 200;
  const receiver: Omit<OtlpReceiver, 'url' | 'close'> = {
    exports: [],
    requests: 0,
    answer: (next) => {
      status = next;
    },
    last() {
      const found = receiver.exports.at(-1);
      if (!found) throw new Error('no export received');
      return found;
    },
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      receiver.requests += 1;
      if (status !== 200) {
        response.writeHead(status, { 'content-type': 'text/plain' }).end('collector says no');
        return;
      }
      receiver.exports.push(...decode(JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonRequest));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
