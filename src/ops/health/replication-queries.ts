import type { Sql, TransactionSql } from 'postgres';

type Tx = Sql | TransactionSql;

/**
 * Whether this role sees the columns of pg_stat_replication and pg_stat_wal_receiver (state,
 * positions, lags). Without the privileges of pg_read_all_stats (pg_monitor has them) the server
 * shows other roles' walsenders and the WAL receiver with every such column NULL.
 */
export async function replicationStatsVisible(tx: Tx): Promise<boolean> {
  const [row] = await tx<{ visible: boolean }[]>`SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS visible`;
  return row?.visible ?? false;
}

/** This standby's WAL receiver (pg_stat_wal_receiver); undefined when none runs. */
export interface WalReceiverRow {
  pid: number;
  /** starting, waiting, streaming, stopping, restarting; null when this role may not see it. */
  status: string | null;
  /** Seconds since the last message from the primary (server clock). */
  lastMessageAgeSeconds: number | null;
  senderHost: string | null;
  senderPort: number | null;
  slotName: string | null;
}

export async function walReceiver(tx: Tx): Promise<WalReceiverRow | undefined> {
  const [row] = await tx<WalReceiverRow[]>`
    SELECT pid, status,
           extract(epoch FROM clock_timestamp() - last_msg_receipt_time)::float8 AS "lastMessageAgeSeconds",
           sender_host AS "senderHost", sender_port AS "senderPort", slot_name AS "slotName"
    FROM pg_stat_wal_receiver`;
  return row;
}

/** What a standby has received and replayed (functions every role may call). */
export interface ReplayPosition {
  /** WAL received by streaming and flushed here (pg_last_wal_receive_lsn()); null before any streaming. */
  receiveLsn: string | null;
  replayLsn: string | null;
  /** Received but not yet replayed, bytes (0 when replay is at or past what streaming received, e.g. from the archive). */
  bytesBehind: number | null;
  /** Seconds since the primary committed the last transaction replayed here (grows when the primary is idle). */
  lastReplayAgeSeconds: number | null;
  /** not paused, pause requested, paused (pg_wal_replay_pause()). */
  pauseState: string;
  /** Whether primary_conninfo is set; null when this role may not read it (pg_read_all_settings). */
  conninfoSet: boolean | null;
}

export async function replayPosition(tx: Tx): Promise<ReplayPosition> {
  const [row] = await tx<ReplayPosition[]>`
    SELECT pg_last_wal_receive_lsn()::text AS "receiveLsn", pg_last_wal_replay_lsn()::text AS "replayLsn",
           greatest(0, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()))::float8 AS "bytesBehind",
           extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS "lastReplayAgeSeconds",
           pg_get_wal_replay_pause_state() AS "pauseState",
           (SELECT setting <> '' FROM pg_settings WHERE name = 'primary_conninfo') AS "conninfoSet"`;
  if (!row) throw new Error('the server returned no row for pg_last_wal_replay_lsn()');
  return row;
}

/** One walsender on the primary (pg_stat_replication), physical standbys and logical subscribers alike. */
export interface StandbyRow {
  pid: number;
  applicationName: string;
  clientAddr: string | null;
  /** startup, catchup, streaming, backup, stopping; null when this role may not see it. */
  state: string | null;
  /** async, potential, sync, quorum. */
  syncState: string | null;
  writeLagSeconds: number | null;
  flushLagSeconds: number | null;
  replayLagSeconds: number | null;
  replayLsn: string | null;
  /** When the standby last reported its positions (ms since the epoch, server clock). */
  replyTime: number | null;
  /** pg_current_wal_lsn() - replay_lsn. */
  replayBytesBehind: number | null;
  /** Streams through a logical slot (a subscriber, not a standby). */
  logical: boolean;
}

export async function standbyRows(tx: Tx): Promise<StandbyRow[]> {
  return tx<StandbyRow[]>`
    SELECT r.pid, r.application_name AS "applicationName", host(r.client_addr) AS "clientAddr", r.state, r.sync_state AS "syncState",
           extract(epoch FROM r.write_lag)::float8 AS "writeLagSeconds",
           extract(epoch FROM r.flush_lag)::float8 AS "flushLagSeconds",
           extract(epoch FROM r.replay_lag)::float8 AS "replayLagSeconds",
           r.replay_lsn::text AS "replayLsn", (extract(epoch FROM r.reply_time) * 1000)::float8 AS "replyTime",
           greatest(0, pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn))::float8 AS "replayBytesBehind",
           EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical') AS logical
    FROM pg_stat_replication r
    ORDER BY r.application_name, r.pid`;
}

/** One replication slot (pg_replication_slots, which every role may read). */
export interface SlotRow {
  name: string;
  type: string;
  active: boolean;
  /** reserved, extended, unreserved, lost; null for a slot that has reserved no WAL yet. */
  walStatus: string | null;
  /** WAL this slot keeps from removal, bytes (from its restart_lsn to the current position). */
  retainedBytes: number | null;
  /** Bytes that can still be written before the slot loses WAL (max_slot_wal_keep_size); null when unlimited. */
  safeWalSize: number | null;
  inactiveSeconds: number | null;
  invalidationReason: string | null;
}

export async function replicationSlots(tx: Tx): Promise<SlotRow[]> {
  return tx<SlotRow[]>`
    SELECT slot_name AS name, slot_type AS type, active, wal_status AS "walStatus",
           greatest(0, pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, restart_lsn))::float8 AS "retainedBytes",
           safe_wal_size::float8 AS "safeWalSize",
           extract(epoch FROM clock_timestamp() - inactive_since)::float8 AS "inactiveSeconds",
           invalidation_reason AS "invalidationReason"
    FROM pg_replication_slots ORDER BY slot_name`;
}

/** The server's synchronous replication settings, and the sessions waiting for a synchronous standby now. */
export interface SyncSettings {
  names: string;
  commit: string;
  /** max_slot_wal_keep_size in bytes; null when unlimited (-1). */
  maxSlotWalKeepBytes: number | null;
  /** Sessions whose commit waits for a synchronous standby (wait_event SyncRep). */
  waiting: number;
}

export async function syncSettings(tx: Tx): Promise<SyncSettings> {
  const [row] = await tx<SyncSettings[]>`
    SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit,
           CASE WHEN current_setting('max_slot_wal_keep_size') = '-1' THEN NULL
                ELSE pg_size_bytes(current_setting('max_slot_wal_keep_size'))::float8 END AS "maxSlotWalKeepBytes",
           (SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'IPC' AND wait_event = 'SyncRep') AS waiting`;
  if (!row) throw new Error('the server returned no row for its synchronous replication settings');
  return row;
}
