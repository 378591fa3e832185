import { type Command, Option } from 'commander';
import { intArg } from './options.ts';

/** The options `serve` and `up --serve` share. */
export function addServeOptions(command: Command): Command {
  return command
    .option('--host <host>', 'address the health server listens on (0.0.0.0 for probes from outside)', '127.0.0.1')
    .option('--alert-rules <file>', 'alert rules (JSON) instead of the defaults (see docs/monitoring.md, "Alerts")')
    .addOption(new Option('--alert-interval <seconds>', 'how often the alert rules are evaluated').argParser(intArg(1, 3600)).default(15))
    .option('--no-alerts', 'do not evaluate alert rules')
    .option('--prometheus', 'also serve the metrics at GET /metrics (Prometheus text format)');
}
