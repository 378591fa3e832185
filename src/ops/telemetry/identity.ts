import { hostname } from 'node:os';
import { parseResourceAttributes } from './config.ts';

export interface InstanceIdentity {
  /** `host.name`: this machine's (or container's) host name. */
  hostName: string;
  /** `service.instance.id`: tells replicas of one service apart. */
  instanceId: string;
}

export interface InstanceIdentityOptions {
  /** Wins over everything. */
  instanceId?: string;
  /** Used when neither the option nor `OTEL_RESOURCE_ATTRIBUTES` names one, e.g. `${hostname}:${port}`. Default: the host name. */
  defaultInstanceId?: string;
  /** The environment to read `OTEL_RESOURCE_ATTRIBUTES` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * Who this process is, for the metrics' resource and the alerts' labels: `hostName` is
 * `os.hostname()`; `instanceId` is the option, else `service.instance.id` in
 * `OTEL_RESOURCE_ATTRIBUTES`, else `defaultInstanceId`, else the host name.
 *
 * @example
 * const { instanceId } = instanceIdentity({ defaultInstanceId: `${os.hostname()}:7418` });
 */
export function instanceIdentity(options: InstanceIdentityOptions = {}): InstanceIdentity {
  const hostName = hostname();
  const fromEnv = parseResourceAttributes((options.env ?? process.env).OTEL_RESOURCE_ATTRIBUTES)['service.instance.id'];
  const instanceId = [options.instanceId, fromEnv, options.defaultInstanceId].map((id) => id?.trim()).find((id) => id) ?? hostName;
  return { hostName, instanceId };
}
