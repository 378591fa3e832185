import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { RunAs } from '../../platform/exec.ts';
import { logOffset, readLogSince } from '../../platform/log-file.ts';
import { findPgbouncer, type PgbouncerBinary } from './binary.ts';
import { configuredListen } from './local.ts';
import { withPoolerLock } from './lock.ts';
import { describeExit, poolerExit, poolerFiles, poolerPid, startPooler, type PoolerExit, type PoolerFiles } from './process.ts';
import { sleep } from '../../core/sleep.ts';
import { backoffDelay } from '../../core/backoff.ts';

/** One death of PgBouncer a supervisor saw, and what followed. */
export interface PoolerRestart {
  /** When the death was seen. */
  at: Date;
  /** The PgBouncer that died (undefined: it was already dead when the supervisor started). */
  pid?: number;
  /** How it ended, as its shell recorded it (undefined: unknown). */
  exit?: PoolerExit;
  /** `self`: this supervisor started the new one; `other`: another process did (the other supervisor, `jeex-db up`). */
  by?: 'self' | 'other';
  /** The new PgBouncer, once one runs. */
  newPid?: number;
}

export interface PoolerSupervisorState {
  /**
   * `running`; `restarting` (dead, a restart is due); `failing` (it keeps dying or cannot be
   * started: more than `failingAfter` restarts without staying up `stableMs`); `stopped` (shut
   * down on purpose: `jeex-db down`, `up --no-pooler`, a SIGINT or SIGTERM to it; not restarted).
   */
  status: 'running' | 'restarting' | 'failing' | 'stopped';
  pid?: number;
  /** The deaths seen since the supervisor started (the last 100). */
  restarts: readonly PoolerRestart[];
  /** Restarts since PgBouncer last stayed up `stableMs` (the backoff grows with them). */
  attempts: number;
  lastError?: string;
  /** When the next restart is tried, while restarting or failing. */
  nextAttemptAt?: Date;
}

export interface SupervisePoolerOptions {
  /** The PgBouncer's directory (`<data dir>/pgbouncer`): its ini, pidfile, log and lock. */
  dir: string;
  /** The OS user it runs as (the server's, when we are root). */
  as?: RunAs;
  /** Where each death, restart and failure is logged (one JSON line each). */
  logger: Logger;
  /** Default: the one `findPgbouncer()` finds. */
  binary?: PgbouncerBinary;
  /** How often the pidfile's process is looked at, ms (default 500). */
  pollMs?: number;
  /** The first restart is at once; then `initialMs`, doubling up to `maxMs` (defaults 1000 and 30000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Up this long (ms, default 60000), a PgBouncer counts as stable: the backoff starts over. */
  stableMs?: number;
  /** Restarts without staying up before the state is `failing` and an error is logged (default 3). */
  failingAfter?: number;
  /** How long one start may take to listen, ms (default 10000). */
  startTimeoutMs?: number;
}

export interface PoolerSupervisor {
  state(): PoolerSupervisorState;
  /** Stop watching (PgBouncer keeps running); waits for a restart under way. */
  stop(): Promise<void>;
}

const LOG_TAIL = 10;

/**
 * Dead without meaning to be: its pidfile is still there (PgBouncer removes it when it shuts
 * down, `stopPooler` when it stops it), or its shell recorded a signal or an exit code other than
 * 0, except after a shutdown it was asked for (SIGTERM also exits 1: its log says "got SIGTERM").
 */
async function died(files: PoolerFiles): Promise<boolean> {
  if (existsSync(files.pidfile)) return true;
  const exit = await poolerExit(files);
  if (exit === undefined || (exit.signal === null && exit.code === 0)) return false;
  if (exit.signal !== null) return true;
  return !(await askedToShutDown(files));
}

/** The last start's log lines end with PgBouncer's own "got SIGTERM" / "got SIGINT". */
async function askedToShutDown(files: PoolerFiles): Promise<boolean> {
  const size = await logOffset(files.logfile);
  const lines = await readLogSince(files.logfile, Math.max(0, size - 16_384));
  const up = lines.findLastIndex((line) => /process up: PgBouncer/.test(line));
  return lines.slice(up + 1).some((line) => /\bgot SIG(TERM|INT)\b/.test(line));
}

/**
 * Watch the local PgBouncer of `dir` and restart it when it dies: on the same port with the same
 * pgbouncer.ini and userlist.txt (those `jeex-db up` wrote), at once the first time, then after
 * 1 s, 2 s, 4 s ... up to 30 s while it keeps dying; once it has stayed up a minute the backoff
 * starts over. Each death is a pino line with how it ended (signal or exit code) and the last
 * lines of pgbouncer.log; each restart and failed restart another; more than three restarts
 * without staying up make the state `failing` (logged as an error, and `pgbouncer:restarts`
 * fails in the health document). A PgBouncer stopped on purpose is left stopped.
 *
 * Restarts happen under the directory's lock and only after looking again, so several
 * supervisors (`up` in the foreground and `serve`) and `jeex-db up`/`down` never start two.
 *
 * @example
 * const supervisor = supervisePooler({ dir: layout.pgbouncerDir, as, logger: pino() });
 * // ... on shutdown
 * await supervisor.stop();
 */
export function supervisePooler(options: SupervisePoolerOptions): PoolerSupervisor {
  const files = poolerFiles(options.dir);
  const { logger } = options;
  const pollMs = options.pollMs ?? 500;
  const initialMs = options.backoff?.initialMs ?? 1000;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const stableMs = options.stableMs ?? 60_000;
  const failingAfter = options.failingAfter ?? 3;
  const restarts: PoolerRestart[] = [];
  let status: PoolerSupervisorState['status'] = 'running';
  let pid: number | undefined;
  let upSince = Date.now();
  let attempts = 0;
  let lastError: string | undefined;
  let nextAttemptAt: Date | undefined;
  let current: PoolerRestart | undefined;
  let stopping = false;
  let wake = () => {};
  // A pause that does not keep the process alive and that stop() ends at once; none starts once
  // stop() was asked for (it may be asked between two pauses, while the loop awaits a file).
  const pause = (ms: number) => {
    if (stopping) return Promise.resolve();
    const woken = new AbortController();
    wake = () => woken.abort();
    return sleep(ms, { signal: woken.signal, ref: false });
  };
  // The first restart is at once; then initialMs, doubled each time, at most maxMs.
  const delayFor = (attempt: number) => (attempt <= 1 ? 0 : backoffDelay(attempt - 2, { initialMs, maxMs }));

  const onRunning = (now: number, running: number) => {
    if (running !== pid) {
      if (pid !== undefined && !current) {
        // It changed between two looks: someone else restarted it (or it died and came back).
        restarts.push({ at: new Date(now), pid, by: 'other', newPid: running });
        logger.info({ event: 'pgbouncer.restarted-elsewhere', pid: running, previousPid: pid }, `PgBouncer (pid ${pid}) was replaced by pid ${running}, started by another process`);
      } else if (current && !current.by) {
        current.by = 'other';
        current.newPid = running;
        logger.info({ event: 'pgbouncer.restarted-elsewhere', pid: running, previousPid: current.pid }, `PgBouncer was restarted by another process (pid ${running})`);
      }
      pid = running;
      upSince = now;
    }
    current = undefined;
    nextAttemptAt = undefined;
    if (status !== 'running' && status !== 'failing') status = 'running';
    if (attempts > 0 && now - upSince >= stableMs) {
      if (status === 'failing') logger.info({ event: 'pgbouncer.stable', pid: running }, `PgBouncer has stayed up ${Math.round(stableMs / 1000)} s: no longer failing`);
      attempts = 0;
      status = 'running';
      lastError = undefined;
    }
  };

  const onDeath = async (now: number) => {
    // Its shell writes the status a moment after it died: give it that moment.
    let exit = await poolerExit(files);
    for (let i = 0; !exit && i < 5; i++) {
      await sleep(50);
      exit = await poolerExit(files);
    }
    const tail = (await readLogSince(files.logfile, 0)).slice(-LOG_TAIL);
    // Died within a minute of its start: part of a loop; else a first death.
    if (now - upSince >= stableMs) attempts = 0;
    current = { at: new Date(now), ...(pid !== undefined ? { pid } : {}), ...(exit ? { exit } : {}) };
    restarts.push(current);
    if (restarts.length > 100) restarts.shift();
    logger.warn(
      { event: 'pgbouncer.died', pid, exit: exit ?? { code: null, signal: null }, logTail: tail, attempt: attempts + 1 },
      `PgBouncer${pid !== undefined ? ` (pid ${pid})` : ''} is not running (${describeExit(exit)}); restarting it`,
    );
  };

  const restart = async (binary: PgbouncerBinary): Promise<void> => {
    attempts++;
    if (attempts > failingAfter && status !== 'failing') {
      status = 'failing';
      logger.error(
        { event: 'pgbouncer.failing', attempts, lastError },
        `PgBouncer keeps dying or failing to start: ${attempts} restarts without staying up ${Math.round(stableMs / 1000)} s; still trying, every ${Math.round(maxMs / 1000)} s at most. Read ${files.logfile}, fix the cause, then run \`jeex-db up\``,
      );
    } else if (status !== 'failing') status = 'restarting';
    const delay = delayFor(attempts);
    nextAttemptAt = new Date(Date.now() + delay);
    if (delay > 0) await pause(delay);
    if (stopping) return;
    nextAttemptAt = undefined;
    const began = Date.now();
    try {
      const outcome = await withPoolerLock(files.dir, async () => {
        // Look again inside the lock: another supervisor or `jeex-db up` may have done it, or
        // `jeex-db down` stopped it on purpose meanwhile.
        const running = await poolerPid(files);
        if (running) return { by: 'other' as const, pid: running };
        if (!(await died(files))) return { by: 'none' as const };
        const listen = await configuredListen(files.ini);
        if (!listen) throw new Error(`${files.ini} names no listen_addr and listen_port: run \`jeex-db up\` to write it again`);
        return { by: 'self' as const, pid: await startPooler(binary, files, listen, options.as, options.startTimeoutMs), port: listen.port };
      });
      if (outcome.by === 'none') {
        status = 'stopped';
        current = undefined;
        logger.info({ event: 'pgbouncer.stopped' }, 'PgBouncer was stopped on purpose meanwhile (its pidfile is gone): not restarting it');
        return;
      }
      if (outcome.by === 'self' && current) {
        current.by = 'self';
        current.newPid = outcome.pid;
        logger.info(
          { event: 'pgbouncer.restarted', pid: outcome.pid, previousPid: current.pid, exit: current.exit ?? { code: null, signal: null }, port: outcome.port, downMs: Date.now() - current.at.getTime(), startMs: Date.now() - began, attempt: attempts },
          `PgBouncer restarted (pid ${outcome.pid}) on port ${outcome.port}`,
        );
      }
      onRunning(Date.now(), outcome.pid);
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
      const excerpt = (error as { logExcerpt?: string[] }).logExcerpt;
      logger.error(
        { event: 'pgbouncer.restart-failed', error: lastError, ...(excerpt ? { logExcerpt: excerpt } : {}), attempt: attempts, nextInMs: delayFor(attempts + 1) },
        `PgBouncer could not be restarted: ${lastError}`,
      );
    }
  };

  const run = async (): Promise<void> => {
    const binary = options.binary ?? (await findPgbouncer());
    if (!binary) {
      status = 'stopped';
      logger.error({ event: 'pgbouncer.missing' }, 'PgBouncer is not supervised: no pgbouncer binary was found (apt-get install pgbouncer)');
      return;
    }
    pid = await poolerPid(files);
    while (!stopping) {
      const now = Date.now();
      const running = await poolerPid(files);
      if (running) {
        onRunning(now, running);
        await pause(pollMs);
        continue;
      }
      const restarting = current !== undefined;
      if (!restarting && !(await died(files))) {
        // Confirmed inside the lock: a restart by someone else passes through this state (the
        // old pidfile removed, the new one not yet written).
        if (status !== 'stopped' && !(await withPoolerLock(files.dir, async () => !(await poolerPid(files)) && !(await died(files))))) continue;
        if (status !== 'stopped') {
          if (pid !== undefined) logger.info({ event: 'pgbouncer.stopped', pid }, `PgBouncer (pid ${pid}) was stopped on purpose: not restarting it`);
          status = 'stopped';
          pid = undefined;
        }
        await pause(pollMs);
        continue;
      }
      if (!restarting) await onDeath(now);
      await restart(binary);
      // A failed restart is tried again after its backoff; a successful one is watched again.
    }
  };

  const done = run().catch((error: unknown) => {
    status = 'failing';
    lastError = error instanceof Error ? error.message : String(error);
    logger.error({ event: 'pgbouncer.supervisor-failed', error: lastError }, `the PgBouncer supervisor stopped: ${lastError}`);
  });

  return {
    state: () => ({
      status,
      ...(pid !== undefined && status !== 'stopped' ? { pid } : {}),
      restarts: [...restarts],
      attempts,
      ...(lastError ? { lastError } : {}),
      ...(nextAttemptAt ? { nextAttemptAt } : {}),
    }),
    stop: async () => {
      stopping = true;
      wake();
      // Held until the loop has ended: its pauses keep nothing alive, and a caller awaiting this
      // (`up` stopping PgBouncer and PostgreSQL next) must not see the process exit under it.
      const hold = setInterval(() => {}, 60_000);
      try {
        await done;
      } finally {
        clearInterval(hold);
      }
    },
  };
}
