import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../src/db/connect.ts';

/** SIGKILL a local cluster's postmaster and every child: a host that died, nothing shut down cleanly. */
export function killCluster(dataDir: string): void {
  const pid = Number(readFileSync(join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
  execFileSync('pkill', ['-KILL', '-P', String(pid)], { stdio: 'ignore' });
  process.kill(pid, 'SIGKILL');
}

export interface Ack {
  id: number;
  /** When the INSERT was sent, and when its answer arrived (ms since the epoch). */
  sentAt: number;
  at: number;
}

export interface Writer {
  /** Every INSERT the server acknowledged, in order. */
  readonly acked: Ack[];
  readonly failed: number;
  /**
   * The first write the new primary acknowledged after `killedAt`: the first one *sent* after it
   * (a statement in flight at the kill is answered by the old primary or not at all; PgBouncer
   * does not send it again), as the time from the kill to its answer.
   */
  firstWriteAfter(killedAt: number): number | undefined;
  /** The ids acknowledged for statements sent before `killedAt` (what the old primary confirmed). */
  ackedBefore(killedAt: number): number[];
  stop(): Promise<void>;
}

/** Insert ids one by one (from `firstId`) into `drill` through `url` until stop(), reconnecting after a failure. */
export function startWriter(url: string, firstId = 1): Writer {
  const acked: Ack[] = [];
  let failed = 0;
  let running = true;
  let sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  const loop = (async () => {
    for (let id = firstId; running; id++) {
      const sentAt = Date.now();
      try {
        await sql`INSERT INTO drill (id) VALUES (${id})`;
        acked.push({ id, sentAt, at: Date.now() });
      } catch {
        failed++;
        await sql.end({ timeout: 0 }).catch(() => undefined);
        sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  })();
  return {
    acked,
    get failed() {
      return failed;
    },
    firstWriteAfter: (killedAt) => {
      const first = acked.find((ack) => ack.sentAt > killedAt);
      return first === undefined ? undefined : first.at - killedAt;
    },
    ackedBefore: (killedAt) => acked.filter((ack) => ack.sentAt <= killedAt).map((ack) => ack.id),
    stop: async () => {
      running = false;
      await loop;
      await sql.end({ timeout: 1 });
    },
  };
}
