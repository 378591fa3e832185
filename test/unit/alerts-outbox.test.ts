import { describe, expect, it } from 'vitest';
import { JeexDbError } from '../../src/core/errors.ts';
import { parseAlertLabels, toPostableAlert, toWebhookPayload, type AlertNotification } from '../../src/ops/alerts/notification.ts';
import { Outbox } from '../../src/ops/alerts/outbox.ts';
import { alertReceivers, makeReceiver } from '../../src/ops/alerts/receiver.ts';

const limits = { maxEntries: 3, maxAgeMs: 60_000 };
const note = (alert: string, state: 'firing' | 'resolved', endsAt = '2025-06-01T12:04:00.000Z'): AlertNotification => ({
  alert,
  state,
  severity: 'critical',
  labels: { alertname: alert, severity: 'critical', instance: 'db-1' },
  summary: `${alert} summary`,
  description: `${alert} description`,
  check: 'postgresql:reachable',
  observedValue: state === 'resolved',
  startsAt: '2025-06-01T12:00:00.000Z',
  endsAt,
});

describe('Outbox', () => {
  it('keeps the newest notification per alert and receiver: a resolved replaces its firing, the first queue time stays', () => {
    const outbox = new Outbox(limits);
    outbox.put('am', note('a', 'firing'), 1000);
    outbox.put('am', note('b', 'firing'), 2000);
    outbox.put('hook', note('a', 'firing'), 1000);
    outbox.put('am', note('a', 'resolved'), 5000);
    expect(outbox.due('am', 10).map((e) => [e.key, e.notification.state, e.firstQueuedAt, e.queuedAt])).toEqual([
      ['b', 'firing', 2000, 2000],
      ['a', 'resolved', 1000, 5000],
    ]);
    // The other receiver keeps its own copy.
    expect(outbox.due('hook', 10).map((e) => e.notification.state)).toEqual(['firing']);
    expect(outbox.oldest('am')).toBe(1000);
    expect(outbox.size).toBe(3);
  });

  it('settles only what was sent: an entry replaced while its request was under way stays queued', () => {
    const outbox = new Outbox(limits);
    outbox.put('am', note('a', 'firing'), 1000);
    outbox.put('am', note('b', 'firing'), 1000);
    const sent = outbox.due('am', 10);
    outbox.put('am', note('a', 'resolved'), 1500);
    expect(outbox.settle(sent)).toBe(1);
    expect(outbox.due('am', 10).map((e) => [e.key, e.notification.state])).toEqual([['a', 'resolved']]);
  });

  it('is bounded: beyond maxEntries the oldest is dropped; entries older than maxAgeMs expire', () => {
    const outbox = new Outbox(limits);
    for (const [i, alert] of ['a', 'b', 'c'].entries()) expect(outbox.put('am', note(alert, 'firing'), 1000 + i)).toBeUndefined();
    expect(outbox.put('am', note('d', 'firing'), 2000)?.key).toBe('a');
    // A replacement never overflows.
    expect(outbox.put('am', note('d', 'resolved'), 2001)).toBeUndefined();
    expect(outbox.pending('am')).toBe(3);
    expect(outbox.expire(1002 + 60_001).map((e) => e.key)).toEqual(['b', 'c']);
    expect(outbox.due('am', 10).map((e) => e.key)).toEqual(['d']);
  });

  it('round-trips through its JSON (what the outbox file holds) and drops receivers no longer configured', () => {
    const outbox = new Outbox(limits);
    outbox.put('am', note('a', 'firing'), 1000);
    outbox.put('gone', note('a', 'firing'), 1000);
    const back = Outbox.from(JSON.parse(JSON.stringify(outbox.toJSON())), limits);
    expect(back.retain(new Set(['am'])).map((e) => e.receiver)).toEqual(['gone']);
    expect(back.due('am', 10)[0]?.notification).toEqual(note('a', 'firing'));
    // Sequence numbers go on from the saved ones: a newer put still replaces.
    back.put('am', note('a', 'resolved'), 2000);
    expect(back.due('am', 10).map((e) => e.notification.state)).toEqual(['resolved']);
    expect(() => Outbox.from({ version: 2, entries: [] }, limits)).toThrow();
  });
});

describe('receivers and payloads', () => {
  it("posts to Alertmanager's /api/v2/alerts, credentials as Basic authentication and masked in its name", () => {
    const am = makeReceiver({ kind: 'alertmanager', url: 'https://ops:s3cret@am.example.com:9093/prefix/' });
    expect(am.target).toBe('https://am.example.com:9093/prefix/api/v2/alerts');
    expect(am.headers.authorization).toBe(`Basic ${Buffer.from('ops:s3cret').toString('base64')}`);
    expect(am.name).not.toContain('s3cret');
    expect(makeReceiver({ kind: 'alertmanager', url: 'http://am:9093/api/v2/alerts' }).target).toBe('http://am:9093/api/v2/alerts');
    expect(am.id).toBe(makeReceiver({ kind: 'alertmanager', url: 'https://ops:changed@am.example.com:9093/prefix/' }).id);
    expect(am.repeats).toBe(true);
    expect(makeReceiver({ kind: 'webhook', url: 'http://hook/x' }).repeats).toBe(false);
  });

  it('builds the Alertmanager and webhook bodies', () => {
    const firing = note('a', 'firing');
    expect(toPostableAlert({ ...firing, generatorURL: 'http://db-1:7418/alerts' })).toEqual({
      labels: firing.labels,
      annotations: { summary: 'a summary', description: 'a description' },
      startsAt: firing.startsAt,
      endsAt: firing.endsAt,
      generatorURL: 'http://db-1:7418/alerts',
    });
    expect(JSON.parse(makeReceiver({ kind: 'alertmanager', url: 'http://am:9093' }).body([firing, note('b', 'resolved')]))).toHaveLength(2);
    expect(toWebhookPayload(firing)).not.toHaveProperty('endsAt');
    expect(toWebhookPayload(note('a', 'resolved', '2025-06-01T12:03:00.000Z'))).toEqual(expect.objectContaining({ state: 'resolved', endsAt: '2025-06-01T12:03:00.000Z', labels: firing.labels }));
  });

  it('reads receivers from the environment (comma-separated), given URLs replacing a kind', () => {
    const env = { JEEX_ALERTMANAGER_URL: 'http://am-0:9093, http://am-1:9093', JEEX_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' };
    expect(alertReceivers({}, env)).toEqual([
      { kind: 'alertmanager', url: 'http://am-0:9093' },
      { kind: 'alertmanager', url: 'http://am-1:9093' },
      { kind: 'webhook', url: 'https://hooks.example.com/x' },
    ]);
    expect(alertReceivers({ alertmanagerUrls: ['http://am-2:9093'] }, env).map((r) => r.url)).toEqual(['http://am-2:9093', 'https://hooks.example.com/x']);
    expect(() => alertReceivers({}, { JEEX_ALERTMANAGER_URL: 'ftp://am' })).toThrow(/JEEX_ALERTMANAGER_URL must be an http or https URL/);
  });

  it('parses labels k=v,k2=v2 and refuses bad or reserved names, all at once', () => {
    expect(parseAlertLabels('cluster=prod-eu, team=db')).toEqual({ cluster: 'prod-eu', team: 'db' });
    expect(parseAlertLabels(['cluster=a', 'zone=b'], '--alert-label')).toEqual({ cluster: 'a', zone: 'b' });
    let error: unknown;
    try {
      parseAlertLabels('severity=x,bad-name=1,novalue,empty=');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(JeexDbError);
    expect((error as JeexDbError).message).toMatch(/4 problems/);
    expect((error as JeexDbError).message).toMatch(/"severity" is set by the alert engine itself/);
  });
});
