import { type Command, Option } from 'commander';
import { intArg } from './options.ts';

/** The options `serve` and `up --serve` share. */
export function addServeOptions(command: Command): Command {
  return command
    .option('--host <host>', 'address the health server listens on (0.0.0.0 for probes from outside)', '127.0.0.1')
    .option('--alert-rules <file>', 'alert rules (JSON) instead of the defaults (see docs/monitoring.md, "Alerts")')
    .addOption(new Option('--alert-interval <seconds>', 'how often the alert rules are evaluated').argParser(intArg(1, 3600)).default(15))
    .option('--no-alerts', 'do not evaluate alert rules')
    .option('--alertmanager-url <url...>', 'send alerts to this Alertmanager (API v2; repeat or comma-separate for an HA pair; default: JEEX_ALERTMANAGER_URL)')
    .option('--alert-webhook-url <url...>', 'POST firing and resolved alerts as JSON to this webhook (default: JEEX_ALERT_WEBHOOK_URL)')
    .option('--alert-label <name=value...>', 'a label on every alert, e.g. cluster=prod-eu (over JEEX_ALERT_LABELS; instance defaults to the host name)')
    .addOption(new Option('--alert-repeat-interval <seconds>', 'how often a firing alert is sent to Alertmanager again (default: JEEX_ALERT_REPEAT_INTERVAL, else 60)').argParser(intArg(1, 86_400)))
    .option('--prometheus', 'also serve the metrics at GET /metrics (Prometheus text format)');
}
