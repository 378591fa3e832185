import { boundedRead } from './bounded.ts';
import { measure, round, type CheckContext, type CheckSpec, type Entry } from './measure.ts';
import { forgetRole, replicationMemory } from './replication-memory.ts';
import { replicationSlots, replicationStatsVisible, standbyRows, syncSettings, type SlotRow, type StandbyRow, type SyncSettings } from './replication-queries.ts';
import { synchronousRule } from '../ha/synchronous-names.ts';

const PG = 'postgresql';
const GRANT = 'run the health check as a member of pg_monitor (GRANT pg_monitor TO <role>), which may read the columns of pg_stat_replication';

const entry = (key: string, ctx: CheckContext, m: Parameters<typeof measure>[1]): Entry => ({ key, check: measure(ctx.now, m) });
const mib = (bytes: number | null) => `${round((bytes ?? 0) / 2 ** 20, 1)} MiB`;
const seconds = (value: number | null) => (value === null ? '–' : `${round(value, 3)} s`);
/** A standby as the primary names it: its application_name and address. */
const standbyName = (row: StandbyRow) => `${row.applicationName || `pid ${row.pid}`}@${row.clientAddr ?? 'local'}`;

/**
 * On a primary: the standbys streaming from it (`postgresql:replicas`, against `replicasMin` or,
 * unset, one per physical slot), each standby's replay lag (`postgresql:replicationLag`,
 * `postgresql:replicationLagBytes`, one entry per standby) and, when synchronous_standby_names
 * is set, whether enough synchronous standbys stream for commits to finish
 * (`postgresql:synchronousStandbys`). Nothing on a standby.
 */
export const standbysCheck: CheckSpec = {
  what: 'the standbys (pg_stat_replication)',
  key: `${PG}:replicas`,
  componentType: PG,
  run: async (ctx) => {
    if (ctx.facts.inRecovery) return [];
    forgetRole(ctx.sql, 'primary');
    const seen = await boundedRead(ctx.sql, ctx.timeoutMs, 'reading pg_stat_replication', async (tx) => ({
      visible: await replicationStatsVisible(tx),
      rows: await standbyRows(tx),
      slots: await replicationSlots(tx),
      sync: await syncSettings(tx),
    }));
    const rule = synchronousRule(seen.sync.names);
    // Without pg_read_all_stats the rows are there, their state and positions NULL.
    if (!seen.visible && seen.rows.length > 0) {
      const unavailable = (key: string, what: string) =>
        entry(key, ctx, { value: null, status: 'warn', componentType: PG, output: `this role sees ${seen.rows.length} walsender(s) but not their state, so ${what}: ${GRANT}` });
      return [
        unavailable(`${PG}:replicas`, 'the standbys streaming cannot be counted'),
        ...(seen.sync.names.trim() === '' ? [] : [unavailable(`${PG}:synchronousStandbys`, `whether commits can finish (synchronous_standby_names '${seen.sync.names}') is unknown`)]),
      ];
    }
    const standbys = seen.rows.filter((row) => !row.logical && row.state !== 'backup');
    const entries = [replicasEntry(ctx, standbys, seen.slots)];
    const memory = replicationMemory(ctx.sql);
    const replay = (memory.replay ??= new Map<string, { lsn: string; since: number; reply: number | null }>());
    const now = ctx.now().getTime();
    for (const row of standbys) {
      const name = standbyName(row);
      const last = replay.get(name);
      let stuck = 0;
      if (row.replayLsn === null || !row.replayBytesBehind) replay.delete(name);
      else if (last?.lsn !== row.replayLsn) replay.set(name, { lsn: row.replayLsn, since: now, reply: row.replyTime });
      // The standby reports its replay position with its other replies (every
      // wal_receiver_status_interval when idle): stuck only if a newer reply still says the same.
      else if (row.replyTime !== null && last.reply !== null && row.replyTime > last.reply) stuck = (now - last.since) / 1000;
      entries.push(...standbyLagEntries(ctx, row, stuck));
    }
    for (const name of replay.keys()) if (!standbys.some((row) => standbyName(row) === name)) replay.delete(name);
    if (rule) entries.push(synchronousEntry(ctx, standbys, seen.sync, rule));
    else if (seen.sync.names.trim() !== '') {
      entries.push(
        entry(`${PG}:synchronousStandbys`, ctx, {
          value: null,
          status: 'warn',
          componentType: PG,
          output: `synchronous_standby_names = '${seen.sync.names}' cannot be read (expected FIRST n (names), ANY n (names) or a list of names)`,
        }),
      );
    } else ctx.note(`${PG}:synchronousStandbys: synchronous_standby_names is empty, so commits do not wait for a standby (asynchronous replication)`);
    return entries;
  },
};

function replicasEntry(ctx: CheckContext, standbys: StandbyRow[], slots: SlotRow[]): Entry {
  const streaming = standbys.filter((row) => row.state === 'streaming');
  const physical = slots.filter((slot) => slot.type === 'physical');
  const min = ctx.thresholds.replicasMin;
  const expected = min ?? physical.length;
  const why =
    min === undefined ? `one per physical replication slot: ${physical.map((slot) => slot.name).join(', ')}; set JEEX_HEALTH_REPLICAS_MIN to expect another number` : 'replicasMin';
  const others = standbys.filter((row) => row.state !== 'streaming').map((row) => `${standbyName(row)} is ${row.state ?? 'in an unknown state'}`);
  const idle = physical.filter((slot) => !slot.active).map((slot) => `slot ${slot.name} has no standby connected`);
  const details = [...others, ...idle];
  const none = streaming.length === 0 ? 'no standby streams' : `${streaming.length} standby(s) stream`;
  return entry(`${PG}:replicas`, ctx, {
    value: streaming.length,
    unit: '{replica}',
    ...(expected > 0 ? { limits: { warn: expected }, lowerIsWorse: true } : {}),
    componentType: PG,
    output: `${none}, fewer than the ${expected} expected (${why})${details.length > 0 ? `: ${details.join('; ')}` : ''}. Without a standby a failure of this server is an outage and loses the WAL not yet archived: start the standby (\`jeex-db up --data-dir <standby>\`) and read its log, re-seed it (\`jeex-db standby --reseed\`), or drop the slot of a standby given up (SELECT pg_drop_replication_slot('<slot>'))`,
  });
}

/** `stuckSeconds`: how long earlier checks on this client saw its replay position stand still while WAL waits. */
function standbyLagEntries(ctx: CheckContext, row: StandbyRow, stuckSeconds: number): Entry[] {
  const t = ctx.thresholds;
  const name = standbyName(row);
  // replay_lag turns NULL a while after a standby has caught up and nothing is written, and it
  // keeps the last replayed WAL's lag while replay stands still.
  const reported = row.replayLagSeconds ?? (row.replayBytesBehind === 0 ? 0 : null);
  const lag = stuckSeconds > 0 ? Math.max(reported ?? 0, stuckSeconds) : reported;
  const stuck = stuckSeconds > 0 ? `, its replay position has not moved for ${round(stuckSeconds, 1)} s` : '';
  const detail = `state ${row.state ?? '?'}, sync_state ${row.syncState ?? '?'}, write/flush/replay lag ${seconds(row.writeLagSeconds)} / ${seconds(row.flushLagSeconds)} / ${seconds(row.replayLagSeconds)}, ${mib(row.replayBytesBehind)} of WAL not replayed${stuck}`;
  return [
    entry(`${PG}:replicationLag`, ctx, {
      value: lag === null ? null : round(lag, 3),
      ...(lag === null ? {} : { exact: lag }),
      unit: 's',
      limits: { warn: t.replicationLagWarnSeconds, fail: t.replicationLagFailSeconds },
      componentType: PG,
      componentId: name,
      output: `standby ${name} replays ${seconds(lag)} behind (${detail}): a failover to it now loses that much with asynchronous replication; look at its I/O and long queries there, and at the network`,
    }),
    entry(`${PG}:replicationLagBytes`, ctx, {
      value: row.replayBytesBehind,
      unit: 'By',
      limits: { warn: t.replicationLagWarnBytes, fail: t.replicationLagFailBytes },
      componentType: PG,
      componentId: name,
      output: `standby ${name} has not replayed ${mib(row.replayBytesBehind)} of WAL (${detail})`,
    }),
  ];
}

function synchronousEntry(ctx: CheckContext, standbys: StandbyRow[], sync: SyncSettings, rule: NonNullable<ReturnType<typeof synchronousRule>>): Entry {
  const confirming = standbys.filter((row) => row.state === 'streaming' && (row.syncState === 'sync' || row.syncState === 'quorum'));
  const blocks = sync.commit !== 'off' && sync.commit !== 'local';
  const short = confirming.length < rule.count;
  const waiting = sync.waiting > 0 ? ` ${sync.waiting} session(s) wait in COMMIT now.` : '';
  const effect = blocks
    ? `every commit waits for a confirmation that cannot come, forever (statement_timeout does not end the wait; pg_cancel_backend does, leaving the transaction committed here only).${waiting}`
    : `synchronous_commit is ${sync.commit}, so commits do not wait, but they are not on a standby when they return.`;
  return entry(`${PG}:synchronousStandbys`, ctx, {
    value: confirming.length,
    unit: '{replica}',
    status: !short ? 'pass' : blocks ? 'fail' : 'warn',
    limits: { fail: rule.count },
    lowerIsWorse: true,
    componentType: PG,
    output: `synchronous_standby_names is '${sync.names}' (${rule.method === 'any' ? 'any' : 'the first'} ${rule.count} of ${rule.names.join(', ')} must confirm each commit), but ${confirming.length} synchronous standby(s) stream: ${effect} Start the standby (\`jeex-db up --data-dir <standby>\`), or, accepting that a failover may lose the last commits, turn synchronous replication off: ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf()`,
  });
}

/**
 * Every replication slot (`postgresql:replicationSlots`, one entry per slot, observed value its
 * wal_status): lost or unreserved fails (its standby cannot catch up by streaming any more),
 * extended, long inactive or close to max_slot_wal_keep_size warns.
 */
export const slotsCheck: CheckSpec = {
  what: 'the replication slots (pg_replication_slots)',
  key: `${PG}:replicationSlots`,
  componentType: PG,
  run: async (ctx) => {
    const { slots, sync } = await boundedRead(ctx.sql, ctx.timeoutMs, 'reading pg_replication_slots', async (tx) => ({
      slots: await replicationSlots(tx),
      sync: await syncSettings(tx),
    }));
    if (slots.length === 0) {
      ctx.note(`${PG}:replicationSlots: no replication slots`);
      return [];
    }
    return slots.map((slot) => slotEntry(ctx, slot, sync.maxSlotWalKeepBytes));
  },
};

function slotEntry(ctx: CheckContext, slot: SlotRow, maxKeep: number | null): Entry {
  const t = ctx.thresholds;
  const problems: { status: 'warn' | 'fail'; text: string }[] = [];
  const held = slot.retainedBytes === null ? 'reserves no WAL' : `keeps ${mib(slot.retainedBytes)} of WAL`;
  const client = slot.type === 'physical' ? 'standby' : 'subscriber';
  if (slot.walStatus === 'lost') {
    problems.push({
      status: 'fail',
      text: `lost the WAL its ${client} needs (${slot.invalidationReason ?? 'invalidated'}): that ${client} can no longer stream and must be re-seeded (\`jeex-db standby --reseed\`); drop the slot if it is gone for good (SELECT pg_drop_replication_slot('${slot.name}'))`,
    });
  } else if (slot.walStatus === 'unreserved') {
    problems.push({
      status: 'fail',
      text: `no longer reserves the WAL its ${client} needs (max_slot_wal_keep_size${maxKeep === null ? '' : ` ${mib(maxKeep)}`} exceeded, ${held}): the next checkpoint removes it and the ${client} will need a re-seed; let it catch up now, or raise max_slot_wal_keep_size (reload)`,
    });
  } else if (slot.walStatus === 'extended') {
    problems.push({ status: 'warn', text: `${held}, more than max_wal_size: its ${client} is far behind or gone` });
  }
  const inactiveWarn = t.slotInactiveWarnSeconds;
  if (!slot.active && slot.walStatus !== 'lost' && slot.inactiveSeconds !== null && inactiveWarn !== undefined && slot.inactiveSeconds >= inactiveWarn) {
    problems.push({
      status: 'warn',
      text: `has had no ${client} for ${round(slot.inactiveSeconds, 0)} s and ${held}${maxKeep === null ? ': with max_slot_wal_keep_size unlimited (-1) it holds WAL until the disk is full' : ''}; start its ${client}, or drop the slot if it is gone (SELECT pg_drop_replication_slot('${slot.name}'))`,
    });
  }
  const safeWarn = t.slotSafeWalWarnPercent;
  if (maxKeep !== null && maxKeep > 0 && slot.safeWalSize !== null && safeWarn !== undefined && (slot.walStatus === 'reserved' || slot.walStatus === 'extended')) {
    const percent = (Math.max(0, slot.safeWalSize) / maxKeep) * 100;
    if (percent < safeWarn) {
      problems.push({ status: 'warn', text: `can lose its WAL after ${mib(slot.safeWalSize)} more is written (safe_wal_size, ${round(percent, 1)}% of max_slot_wal_keep_size)` });
    }
  }
  const status = problems.some((p) => p.status === 'fail') ? 'fail' : problems.length > 0 ? 'warn' : 'pass';
  return entry(`${PG}:replicationSlots`, ctx, {
    value: slot.walStatus,
    status,
    componentType: PG,
    componentId: slot.name,
    output: `${slot.type} slot ${slot.name} ${problems.map((p) => p.text).join('; it ')}`,
  });
}
