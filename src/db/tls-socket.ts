import { connect as connectTcp } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';

/** SSLRequest: length 8, code 80877103. The server answers one byte, `S` (go ahead) or `N`. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const SSL_YES = 0x53;

/**
 * A TLS connection to PostgreSQL or PgBouncer, negotiated as libpq does (SSLRequest on the plain
 * TCP connection, then the handshake), returned at once like `net.connect`'s socket: the caller
 * writes the startup message straight away and reads PostgreSQL's messages in clear.
 *
 * postgres.js does the same itself when it is given `ssl`, but then the socket it reads is its
 * own TLS socket, and `guardSocket` (which must see the messages) would sit under the
 * encryption. With this socket postgres.js is told `ssl: false` and the guard sits on top.
 *
 * A refused or reset TCP connection reaches the returned socket as its `error` (with the TCP
 * error's code, e.g. ECONNREFUSED); a server that declines TLS (`N`) as an error that says so.
 * `setKeepAlive` reaches the TCP socket underneath.
 *
 * @example
 * const socket = negotiatedTlsSocket({ host: '127.0.0.1', port: 5418 }, { ca, host: '127.0.0.1', rejectUnauthorized: true, minVersion: 'TLSv1.3' });
 */
export function negotiatedTlsSocket(target: { host: string; port: number }, options: ConnectionOptions): TLSSocket {
  const tcp = connectTcp(target.port, target.host);
  let accepted = false;
  let pending: { chunk: Buffer; done: (error?: Error | null) => void }[] = [];

  // The TLS layer's transport: held back until the server said yes to TLS, then the TCP socket.
  const transport = new Duplex({
    read() {
      tcp.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      if (accepted) tcp.write(chunk, done);
      else pending.push({ chunk, done });
    },
    final(done) {
      tcp.end(done);
    },
    destroy(error, done) {
      tcp.destroy(error ?? undefined);
      done(error);
    },
  });

  tcp.once('connect', () => tcp.write(SSL_REQUEST));
  tcp.once('data', (answer: Buffer) => {
    if (answer[0] !== SSL_YES) {
      transport.destroy(
        Object.assign(new Error(`the server at ${target.host}:${target.port} does not accept TLS connections (it answered the SSL request with ${JSON.stringify(String.fromCharCode(answer[0] ?? 0))})`), {
          code: 'ERR_SERVER_NO_TLS',
          address: target.host,
          port: target.port,
        }),
      );
      return;
    }
    if (answer.length > 1) {
      // Bytes after "S" were sent before the handshake: unencrypted, so possibly injected
      // (CVE-2021-23214). libpq refuses them too.
      transport.destroy(Object.assign(new Error('received unencrypted data after the SSL response'), { code: 'ERR_SERVER_NO_TLS' }));
      return;
    }
    accepted = true;
    tcp.on('data', (chunk: Buffer) => {
      if (!transport.push(chunk)) tcp.pause();
    });
    const queued = pending;
    pending = [];
    for (const { chunk, done } of queued) tcp.write(chunk, done);
  });
  tcp.on('end', () => transport.push(null));
  tcp.on('error', (error) => transport.destroy(error));
  tcp.on('close', () => transport.destroy());

  const secure = connectTls({ ...options, socket: transport });
  // postgres.js asks for keepalive on the socket it has: it belongs on the TCP connection.
  secure.setKeepAlive = (enable?: boolean, delay?: number) => {
    tcp.setKeepAlive(enable, delay);
    return secure;
  };
  return secure;
}
