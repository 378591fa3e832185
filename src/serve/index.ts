/**
 * `jeex-db/serve`: what `jeex-db serve` runs, as a library: the health endpoints (/livez,
 * /readyz, /health), the alert loop, the metrics (OTLP, /metrics) and scheduled backups.
 *
 * @example
 * import { resolveServeTargets, serveUntil, DEFAULT_SERVE_PORT } from 'jeex-db/serve';
 * await serveUntil({ port: DEFAULT_SERVE_PORT, host: '0.0.0.0', migrations: true, alerts: true, alertInterval: 15, logger }, resolveServeTargets({ dataDir: '.jeex-db' }), stopped, (url) => logger.info(url));
 */
export { startMonitor, type MonitorOptions, type RunningMonitor } from './monitor.ts';
export { startHealthServer, httpStatusFor, type HealthServerOptions, type RunningHealthServer } from './http-server.ts';
export { serveUntil, DEFAULT_SERVE_PORT, type ServeSettings } from './serve-until.ts';
export { resolveServeTargets, type ServeTargetInput, type ServeTargets } from './targets.ts';
