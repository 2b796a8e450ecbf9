/** A server of a test's own on a free loopback port: its address, and a close that waits. */
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';

export interface LocalServer {
  /** The port it listens on, at 127.0.0.1. */
  readonly port: number;
  close(): Promise<void>;
}

export async function listenLocally(server: Server | HttpServer): Promise<LocalServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
