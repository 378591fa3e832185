import { boundedRead } from './bounded.ts';
import { measure, round, type CheckContext, type CheckSpec, type Entry } from './measure.ts';
import { forgetRole, replicationMemory } from './replication-memory.ts';
import { replayPosition, replicationStatsVisible, walReceiver, type ReplayPosition, type WalReceiverRow } from './replication-queries.ts';
import type { HealthStatus } from './types.ts';

const PG = 'postgresql';
const GRANT = 'run the health check as a member of pg_monitor (GRANT pg_monitor TO <role>), which may read pg_stat_wal_receiver';

const entry = (key: string, ctx: CheckContext, m: Parameters<typeof measure>[1]): Entry => ({ key, check: measure(ctx.now, m) });

/**
 * On a standby: whether its WAL receiver streams from the primary (`postgresql:walReceiver`), how
 * long ago the primary last spoke (`postgresql:walReceiverMessageAge`), and how far replay is
 * behind (`postgresql:replicationLag` in s, `postgresql:replicationLagBytes`). A standby that does
 * not stream is never pass: it warns, and fails once it has not streamed for
 * `notStreamingFailSeconds` (as seen by checks on the same client). Nothing on a primary.
 */
export const standbyCheck: CheckSpec = {
  what: 'the standby (pg_stat_wal_receiver, the replay position)',
  key: `${PG}:walReceiver`,
  componentType: PG,
  run: async (ctx) => {
    if (!ctx.facts.inRecovery) return [];
    forgetRole(ctx.sql, 'standby');
    const seen = await boundedRead(ctx.sql, ctx.timeoutMs, 'reading pg_stat_wal_receiver', async (tx) => ({
      visible: await replicationStatsVisible(tx),
      receiver: await walReceiver(tx),
      position: await replayPosition(tx),
    }));
    const hidden = seen.receiver !== undefined && seen.receiver.status === null;
    // Unknown (hidden) counts as streaming for the lag: the lag is then judged on the positions alone.
    const streaming = hidden || seen.receiver?.status === 'streaming';
    return [...receiverEntries(ctx, seen.receiver, seen.position, hidden), ...lagEntries(ctx, seen.position, streaming)];
  },
};

function receiverEntries(ctx: CheckContext, receiver: WalReceiverRow | undefined, position: ReplayPosition, hidden: boolean): Entry[] {
  const memory = replicationMemory(ctx.sql);
  const t = ctx.thresholds;
  const key = `${PG}:walReceiver`;
  if (hidden) {
    ctx.note(`${PG}:walReceiverMessageAge: not measured, this role may not read pg_stat_wal_receiver`);
    return [entry(key, ctx, { value: null, status: 'warn', componentType: PG, output: `a WAL receiver runs, but this role cannot see whether it streams: ${GRANT}` })];
  }
  const from = receiver?.senderHost ? ` from ${receiver.senderHost}${receiver.senderPort ? `:${receiver.senderPort}` : ''}` : '';
  if (receiver?.status === 'streaming') {
    delete memory.notStreamingSince;
    const age = receiver.lastMessageAgeSeconds === null ? null : round(receiver.lastMessageAgeSeconds, 1);
    return [
      entry(key, ctx, { value: 'streaming', componentType: PG, ...(receiver.senderHost ? { componentId: `${receiver.senderHost}:${receiver.senderPort ?? ''}` } : {}) }),
      entry(`${PG}:walReceiverMessageAge`, ctx, {
        value: age,
        ...(receiver.lastMessageAgeSeconds === null ? {} : { exact: receiver.lastMessageAgeSeconds }),
        unit: 's',
        limits: { warn: t.walReceiverMessageAgeWarnSeconds, fail: t.walReceiverMessageAgeFailSeconds },
        componentType: PG,
        output: `this standby streams${from} but has heard nothing from the primary for ${age} s (a primary answers at least every wal_receiver_timeout / 2): the primary or the network to it may be gone; the receiver gives up after wal_receiver_timeout (default 60 s)`,
      }),
    ];
  }
  ctx.note(`${PG}:walReceiverMessageAge: not measured, no WAL receiver streams`);
  const now = ctx.now().getTime();
  const first = memory.notStreamingSince === undefined;
  memory.notStreamingSince ??= now;
  const seconds = round((now - memory.notStreamingSince) / 1000, 1);
  const value = receiver ? receiver.status : 'stopped';
  const state = receiver ? `its WAL receiver is ${receiver.status ?? 'in an unknown state'}${from}` : 'no WAL receiver runs';
  if (position.conninfoSet === false) {
    return [
      entry(key, ctx, {
        value,
        status: 'warn',
        componentType: PG,
        output: `this standby does not stream (${state}): primary_conninfo is empty, so it replays only what restore_command finds in the archive, up to archive_timeout behind the primary; set primary_conninfo (\`jeex-db standby\` writes it) to stream`,
      }),
    ];
  }
  const fail = ctx.thresholds.notStreamingFailSeconds;
  const status: HealthStatus = fail !== undefined && seconds >= fail ? 'fail' : 'warn';
  const since = first
    ? 'first seen by this check (check again, or watch /health, to see whether it lasts)'
    : `for ${seconds} s (since ${new Date(memory.notStreamingSince).toISOString()})`;
  return [
    entry(key, ctx, {
      value,
      status,
      ...(fail !== undefined ? { limits: { fail } } : {}),
      componentType: PG,
      output: `this standby does not stream from its primary, ${since}: ${state}. Its reads grow stale and a failover to it loses what it has not received. Check that the primary runs and accepts replication connections from here (its log, pg_hba.conf \`hostssl replication\`), the network, and this server's log ("could not connect to the primary server"); if the primary is gone for good, promote this standby (\`jeex-db promote\`)${fail !== undefined ? `. It fails after notStreamingFailSeconds (${fail} s)` : ''}`,
    }),
  ];
}

function lagEntries(ctx: CheckContext, position: ReplayPosition, streaming: boolean): Entry[] {
  const memory = replicationMemory(ctx.sql);
  const t = ctx.thresholds;
  const now = ctx.now().getTime();
  const paused = position.pauseState === 'not paused' ? '' : `; replay is ${position.pauseState} (SELECT pg_wal_replay_resume() resumes it)`;
  const bytes = entry(`${PG}:replicationLagBytes`, ctx, {
    value: position.bytesBehind,
    unit: 'By',
    limits: { warn: t.replicationLagWarnBytes, fail: t.replicationLagFailBytes },
    componentType: PG,
    componentId: 'this standby',
    output: `this standby has received ${round((position.bytesBehind ?? 0) / 2 ** 20, 1)} MiB of WAL it has not replayed yet${paused}: look for long queries here that conflict with replay (pg_stat_database_conflicts) and for I/O saturation`,
  });
  const caughtUp = position.bytesBehind === 0;
  if (caughtUp) memory.caughtUpAt = now;
  const key = `${PG}:replicationLag`;
  const limits = { warn: t.replicationLagWarnSeconds, fail: t.replicationLagFailSeconds };
  if (!streaming) {
    return [
      entry(key, ctx, {
        value: null,
        status: 'warn',
        limits,
        componentType: PG,
        componentId: 'this standby',
        output: `unknown while this standby does not stream (see ${PG}:walReceiver): what the primary wrote since is not here${caughtUp ? ', though all it received is replayed' : ''}`,
      }),
      bytes,
    ];
  }
  let seconds: number | null = null;
  if (caughtUp) seconds = 0;
  else if (position.lastReplayAgeSeconds !== null) {
    // After the primary sat idle, the last replayed transaction is old although replay is only
    // just behind: replay cannot be further behind than the last check that saw it caught up.
    const sinceCaughtUp = memory.caughtUpAt === undefined ? Infinity : (now - memory.caughtUpAt) / 1000;
    seconds = Math.max(0, Math.min(position.lastReplayAgeSeconds, sinceCaughtUp));
  }
  const value = seconds === null ? null : round(seconds, 3);
  return [
    entry(key, ctx, {
      value,
      ...(seconds === null ? { status: 'warn' as const } : { exact: seconds }),
      unit: 's',
      limits,
      componentType: PG,
      componentId: 'this standby',
      output:
        seconds === null
          ? `this standby has replayed no transaction yet: check that it streams from the primary (${PG}:walReceiver)`
          : `this standby replays ${value} s behind the primary${paused}: a failover to it now loses that much (with asynchronous replication); check the network and the primary's WAL volume, and long queries here that conflict with replay`,
    }),
    bytes,
  ];
}
