import { connect as connectTcp, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { addressLabel, type ServerAddress } from './conn-string.ts';
import { negotiateTls } from './tls-socket.ts';

/** How long a host that failed (refused, timed out, the wrong role) is tried after the others. */
export const SUSPECT_MS = 30_000;

export interface HostListOptions {
  /** TLS for one server (its own name checked), or undefined for plain TCP. */
  tls: (address: ServerAddress) => { tls: ConnectionOptions; allowPlain: boolean } | undefined;
  /** Milliseconds each host may take to connect (and do its TLS handshake). */
  connectTimeoutMs: number;
  now?: () => number;
}

/** Every host failed: the reasons one by one, the first's code (or a TLS failure's) as `code`. */
export interface HostsFailedError extends Error {
  code: string;
  errno: string;
  address: string;
  attempts: { address: string; code?: string; message: string }[];
}

const connectCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'CONNECT_TIMEOUT', 'ECONNRESET', 'ETIMEDOUT']);

/**
 * The servers of a multi-host connection string, tried as libpq tries them: in the order given,
 * the next one when a host cannot be connected to (refused, no route, no answer within the
 * connect timeout, a TLS failure). Unlike libpq it remembers for SUSPECT_MS which hosts failed,
 * and whose role did not fit `target_session_attrs` (`markFailed`), and tries those last: after a
 * failover every new connection goes straight to the new primary, instead of paying a connect
 * timeout or a login on the old one first. A connection's cancel request goes through the same
 * list, so it reaches the host its query runs on as long as that host stays the first that works.
 *
 * @example
 * const hosts = new HostList(parseConnString(url).hosts, { tls: () => undefined, connectTimeoutMs: 10_000 });
 * const { socket, address } = await hosts.open();
 */
export class HostList {
  private readonly failedAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    readonly addresses: readonly ServerAddress[],
    private readonly options: HostListOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** The hosts in the order the next connection tries them. */
  order(): ServerAddress[] {
    const now = this.now();
    const suspect = (a: ServerAddress) => {
      const at = this.failedAt.get(addressLabel(a));
      return at !== undefined && now - at < SUSPECT_MS ? at : undefined;
    };
    const fresh = this.addresses.filter((a) => suspect(a) === undefined);
    const failed = this.addresses.filter((a) => suspect(a) !== undefined).sort((a, b) => (suspect(a) ?? 0) - (suspect(b) ?? 0));
    return [...fresh, ...failed];
  }

  /** Whether a host other than `address` has not failed lately (prefer-standby: one may be a standby). */
  othersLeft(address: ServerAddress): boolean {
    const now = this.now();
    return this.addresses.some((a) => addressLabel(a) !== addressLabel(address) && now - (this.failedAt.get(addressLabel(a)) ?? -Infinity) >= SUSPECT_MS);
  }

  /** This host failed (or is not what the connection string asks for): try it last for a while. */
  markFailed(address: ServerAddress): void {
    this.failedAt.set(addressLabel(address), this.now());
  }

  /** Connect to the first host that answers; rejects with a `HostsFailedError` when none does. */
  async open(): Promise<{ socket: Socket; address: ServerAddress }> {
    const attempts: { address: string; error: Error & { code?: string } }[] = [];
    for (const address of this.order()) {
      try {
        const socket = await this.connectOne(address);
        this.failedAt.delete(addressLabel(address));
        return { socket, address };
      } catch (error) {
        this.markFailed(address);
        attempts.push({ address: addressLabel(address), error: error as Error & { code?: string } });
      }
    }
    throw hostsFailed(attempts);
  }

  private connectOne(address: ServerAddress): Promise<Socket> {
    const timeoutMs = this.options.connectTimeoutMs;
    const tls = address.host.startsWith('/') ? undefined : this.options.tls(address);
    if (tls) return negotiateTls({ host: address.host, port: address.port, ...(address.hostaddr ? { connectTo: address.hostaddr } : {}) }, { ...tls, timeoutMs, handshake: true });
    return new Promise((resolve, reject) => {
      const socket = address.host.startsWith('/') ? connectTcp(`${address.host}/.s.PGSQL.${address.port}`) : connectTcp(address.port, address.hostaddr ?? address.host);
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(Object.assign(new Error(`connect CONNECT_TIMEOUT ${addressLabel(address)}`), { code: 'CONNECT_TIMEOUT' })), timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    });
  }
}

function hostsFailed(attempts: { address: string; error: Error & { code?: string } }[]): HostsFailedError {
  // A failure that is not about reaching the host (a certificate refused) is the one to report.
  const telling = attempts.find((a) => !connectCodes.has(a.error.code ?? '')) ?? attempts[0];
  const code = telling?.error.code ?? 'ECONNREFUSED';
  const list = attempts.map((a) => a.address).join(', ');
  const message = attempts.map((a) => `${a.address}: ${a.error.message}`).join('; ');
  return Object.assign(new Error(attempts.length === 1 ? (telling?.error.message ?? message) : message), {
    code,
    errno: code,
    address: attempts.length === 1 ? list : `any of ${list}`,
    attempts: attempts.map((a) => ({ address: a.address, ...(a.error.code ? { code: a.error.code } : {}), message: a.error.message })),
  });
}
