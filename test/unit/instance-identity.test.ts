import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { instanceIdentity } from '../../src/ops/telemetry/identity.ts';

describe('instanceIdentity', () => {
  it('takes the option, else OTEL_RESOURCE_ATTRIBUTES, else the default, else the host name', () => {
    const env = { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.instance.id=db-2%3A7418' };
    expect(instanceIdentity({ instanceId: 'given', defaultInstanceId: 'h:1', env })).toEqual({ hostName: hostname(), instanceId: 'given' });
    expect(instanceIdentity({ defaultInstanceId: 'h:1', env }).instanceId).toBe('db-2:7418');
    expect(instanceIdentity({ defaultInstanceId: 'h:1', env: {} }).instanceId).toBe('h:1');
    expect(instanceIdentity({ env: { OTEL_RESOURCE_ATTRIBUTES: 'broken,service.instance.id= ' } }).instanceId).toBe(hostname());
  });
});
