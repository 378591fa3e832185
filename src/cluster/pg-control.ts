import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JeexDbError } from '../core/errors.ts';

/** The states of pg_control (DBState in PostgreSQL's pg_control.h). */
const STATES = ['starting up', 'shut down', 'shut down in recovery', 'shutting down', 'in crash recovery', 'in archive recovery', 'in production'] as const;
export type ClusterState = (typeof STATES)[number] | 'unknown';

/** What `pg_controldata` would print of a data directory (the part jeex-db reads). */
export interface PgControl {
  systemIdentifier: string;
  /** 1800 for PostgreSQL 18. */
  controlVersion: number;
  state: ClusterState;
  /** The last checkpoint record's LSN. */
  checkpointLsn: bigint;
  /** Where replay from that checkpoint starts. */
  redoLsn: bigint;
  /** The timeline the cluster wrote its last checkpoint on. */
  timeline: number;
}

/** The PostgreSQL 18 layout of the first bytes of ControlFileData (checked against pg_control_system()/pg_control_checkpoint()). */
const OFFSETS = { systemIdentifier: 0, controlVersion: 8, state: 16, checkpoint: 32, redo: 40, timeline: 48 } as const;

/**
 * Read `global/pg_control` of a data directory, running or not: the embedded binaries have no
 * pg_controldata, and a stopped (or killed) cluster answers no SQL. Only the fields at the start
 * of the file, whose places PostgreSQL 18 keeps fixed; a file of another version is refused.
 *
 * @example
 * const control = await readPgControl('.jeex-db/pgdata');
 * control.timeline; // 1
 */
export async function readPgControl(pgdata: string): Promise<PgControl> {
  const file = join(pgdata, 'global', 'pg_control');
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new JeexDbError('SERVER_START_FAILED', `cannot read ${file}: ${error.code ?? error.message}`, {
      hint: `${pgdata} holds no PostgreSQL cluster (or one this user cannot read).`,
      cause: error,
    });
  });
  const controlVersion = bytes.readUInt32LE(OFFSETS.controlVersion);
  if (controlVersion !== 1800) {
    throw new JeexDbError('SERVER_START_FAILED', `${file} is pg_control version ${controlVersion}, not PostgreSQL 18's 1800`, {
      hint: 'jeex-db reads PostgreSQL 18 clusters only.',
    });
  }
  return {
    systemIdentifier: bytes.readBigUInt64LE(OFFSETS.systemIdentifier).toString(),
    controlVersion,
    state: STATES[bytes.readUInt32LE(OFFSETS.state)] ?? 'unknown',
    checkpointLsn: bytes.readBigUInt64LE(OFFSETS.checkpoint),
    redoLsn: bytes.readBigUInt64LE(OFFSETS.redo),
    timeline: bytes.readUInt32LE(OFFSETS.timeline),
  };
}
