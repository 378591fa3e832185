import { metrics, type Attributes, type BatchObservableCallback, type Histogram, type Counter, type Meter, type ObservableUpDownCounter } from '@opentelemetry/api';
import { SeriesTracker } from './fresh-series.ts';
import type { PoolGate } from './pool-gate.ts';

/**
 * The client pool's metrics under the OpenTelemetry semantic-convention names, recorded through
 * @opentelemetry/api: whatever SDK the service installs (OTLP exporter, Prometheus) picks them
 * up; without one they cost nothing.
 */
export interface PoolMetrics {
  waitTime(seconds: number): void;
  useTime(seconds: number): void;
  createTime(seconds: number): void;
  timeout(): void;
  operation(seconds: number, attributes: Attributes): void;
  /** Stop reporting this pool's gauges (its client closed). */
  close(): void;
}

interface Instruments {
  meter: Meter;
  count: ObservableUpDownCounter;
  max: ObservableUpDownCounter;
  pending: ObservableUpDownCounter;
  timeouts: Counter;
  wait: Histogram;
  use: Histogram;
  create: Histogram;
  duration: Histogram;
}

// Durations of database work: 0.5 ms .. 10 s (the SDK default buckets start at 0 and 5 s).
const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Made per client, from the meter provider registered at that moment: @opentelemetry/api hands
 * out no-op meters before an SDK is registered, and they stay no-op. (The SDK returns the same
 * instruments for the same names, so several clients share them.)
 */
function createInstruments(): Instruments {
  const meter = metrics.getMeter('jeex-db');
  const histogram = (name: string, description: string) =>
    meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: seconds } });
  return {
    meter,
    count: meter.createObservableUpDownCounter('db.client.connection.count', { unit: '{connection}', description: 'Connections in use or idle' }),
    max: meter.createObservableUpDownCounter('db.client.connection.max', { unit: '{connection}', description: 'The most connections the pool allows' }),
    pending: meter.createObservableUpDownCounter('db.client.connection.pending_requests', { unit: '{request}', description: 'Requests waiting for a connection' }),
    timeouts: meter.createCounter('db.client.connection.timeouts', { unit: '{timeout}', description: 'Requests that gave up waiting for a connection' }),
    wait: histogram('db.client.connection.wait_time', 'Time a request waited for a connection'),
    use: histogram('db.client.connection.use_time', 'Time a connection was lent out'),
    create: histogram('db.client.connection.create_time', 'Time to open a connection'),
    duration: histogram('db.client.operation.duration', 'Duration of database operations'),
  };
}

export function poolMetrics(gate: PoolGate, open: () => number): PoolMetrics {
  const i = createInstruments();
  const pool = { 'db.client.connection.pool.name': gate.name };
  // A closed client's gauges are not exported with their last values (see fresh-series.ts).
  const tracker = new SeriesTracker([
    [i.count, 'db.client.connection.count'],
    [i.max, 'db.client.connection.max'],
    [i.pending, 'db.client.connection.pending_requests'],
  ]);
  const observe: BatchObservableCallback = (outer) => tracker.run(outer, (result) => {
    const state = gate.state();
    result.observe(i.count, state.used, { ...pool, 'db.client.connection.state': 'used' });
    result.observe(i.count, Math.max(0, open() - state.used), { ...pool, 'db.client.connection.state': 'idle' });
    result.observe(i.max, state.max, pool);
    result.observe(i.pending, state.pending, pool);
  });
  i.meter.addBatchObservableCallback(observe, [i.count, i.max, i.pending]);
  return {
    waitTime: (s) => i.wait.record(s, pool),
    useTime: (s) => i.use.record(s, pool),
    createTime: (s) => i.create.record(s, pool),
    timeout: () => i.timeouts.add(1, pool),
    operation: (s, attributes) => i.duration.record(s, attributes),
    close: () => {
      i.meter.removeBatchObservableCallback(observe, [i.count, i.max, i.pending]);
      tracker.close();
    },
  };
}
