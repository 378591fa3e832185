import { freePort, isPortFree } from '../../src/platform/port.ts';

/** A free port for a local cluster whose PgBouncer neighbour (the port + 1000, as `up` picks it) is free too. */
export async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 1000 <= 65535 && (await isPortFree(port + 1000))) return port;
  }
}
