import { connect as connectTcp, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';

/** SSLRequest: length 8, code 80877103. The server answers one byte, `S` (go ahead) or `N`. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const SSL_YES = 0x53;

export interface TlsSocketOptions {
  /** Node TLS options (CA, name check, protocol versions). */
  tls: ConnectionOptions;
  /** sslmode=prefer/allow: a server that declines TLS gets a plain connection. */
  allowPlain?: boolean;
  /** How long the TCP connect and the SSL request may take (postgres.js's connect_timeout covers the rest). */
  timeoutMs: number;
}

/**
 * A connection to PostgreSQL or PgBouncer with TLS negotiated as libpq does: SSLRequest on the
 * TCP connection, then the handshake on that same socket (Node's native TLS, no stream in
 * between). For postgres.js's `socket` option, with `ssl: false`: postgres.js then writes its
 * startup message into the TLS socket and reads the messages in clear, and so can `guardSocket`.
 *
 * Two things postgres.js's own TLS does not do: the TCP socket has Nagle's algorithm off (TLS 1.3
 * sends the client's Finished and the startup message as two small records; with Nagle on, the
 * second waits for the server's delayed ACK, 40 ms on Linux, on every connection), and bytes after
 * the server's `S` are refused (CVE-2021-23214), as libpq does.
 *
 * It resolves once the server said yes (or, failing, with a socket that fails at once, so
 * postgres.js sees the error, e.g. ECONNREFUSED, on a socket as usual and never a rejected factory).
 *
 * @example
 * const sql = postgres(url, { ssl: false, socket: ({ host, port }) => openTlsSocket({ host: host[0], port: port[0] }, { tls, timeoutMs: 10_000 }) });
 */
export function openTlsSocket(target: { host: string; port: number }, options: TlsSocketOptions): Promise<Socket> {
  return negotiateTls(target, options).catch((error: unknown) => failingSocket(error as Error));
}

/**
 * `openTlsSocket` that rejects when the connection cannot be made, for a caller that tries the
 * next host then (HostList). With `handshake`, it also waits for the TLS handshake, so a
 * certificate the client refuses is a rejection too.
 *
 * @example
 * const socket = await negotiateTls({ host: 'db1', port: 5432 }, { tls, timeoutMs: 10_000, handshake: true });
 */
export function negotiateTls(target: { host: string; port: number; connectTo?: string }, options: TlsSocketOptions & { handshake?: boolean }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tcp = connectTcp(target.port, target.connectTo ?? target.host);
    tcp.setNoDelay(true);
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`write CONNECT_TIMEOUT ${target.host}:${target.port}`), { code: 'CONNECT_TIMEOUT', errno: 'CONNECT_TIMEOUT', address: target.host, port: target.port })),
      options.timeoutMs,
    );
    let secure: TLSSocket | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      tcp.removeAllListeners();
      tcp.on('error', () => {});
      tcp.destroy();
      if (secure) {
        secure.removeAllListeners();
        secure.on('error', () => {});
        secure.destroy();
      }
      reject(error);
    };
    tcp.once('error', fail);
    tcp.once('connect', () => tcp.write(SSL_REQUEST));
    tcp.once('data', (answer: Buffer) => {
      const said = answer[0];
      if (said !== SSL_YES) {
        if (options.allowPlain && said === 0x4e && answer.length === 1) {
          clearTimeout(timer);
          tcp.removeListener('error', fail);
          resolve(tcp);
          return;
        }
        fail(
          Object.assign(new Error(`the server at ${target.host}:${target.port} does not accept TLS connections (it answered the SSL request with ${JSON.stringify(String.fromCharCode(said ?? 0))})`), {
            code: 'ERR_SERVER_NO_TLS',
            address: target.host,
            port: target.port,
          }),
        );
        return;
      }
      if (answer.length > 1) {
        // Unencrypted bytes before the handshake could have been injected: libpq refuses them too.
        fail(Object.assign(new Error('received unencrypted data after the SSL response'), { code: 'ERR_SERVER_NO_TLS' }));
        return;
      }
      const connected = connectTls({ ...options.tls, socket: tcp });
      secure = connected;
      // postgres.js asks for keepalive on the socket it holds: it belongs on the TCP connection.
      connected.setKeepAlive = (enable?: boolean, delay?: number) => {
        tcp.setKeepAlive(enable, delay);
        return connected;
      };
      const done = () => {
        clearTimeout(timer);
        tcp.removeListener('error', fail);
        resolve(connected);
      };
      if (!options.handshake) return done();
      connected.once('error', fail);
      connected.once('secureConnect', () => {
        connected.removeListener('error', fail);
        done();
      });
    });
  });
}

/**
 * A socket-like stream that fails with `error` once its owner has written to it. postgres.js
 * attaches its handlers after the factory resolves and then writes its startup message, which it
 * holds for a setImmediate: failing before that flush would leave the message in its buffer, and
 * its next connection would send it twice (PgBouncer: "client re-sent startup pkt").
 */
export function failingSocket(error: Error): Socket {
  let failed = false;
  const fail = () => {
    if (failed) return;
    failed = true;
    stream.destroy(error);
  };
  const stream = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
      setImmediate(fail);
    },
  });
  // In case nothing is written at all.
  setTimeout(fail, 100).unref();
  return stream as unknown as Socket;
}
