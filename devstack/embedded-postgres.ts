/**
 * The embedded default database: PGlite (Postgres compiled to WebAssembly) kept under the data
 * directory and served over the Postgres wire protocol, so every process talks to it through
 * `pg` exactly as it would to a real server. PGlite runs one backend; the socket server
 * multiplexes connections onto it and keeps a transaction's statements together.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from '../common/logger.js';

export interface EmbeddedPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** A directory for the database files; omitted: in memory (tests). */
  readonly dataDir?: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly maxConnections?: number;
  readonly log?: Logger;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  const server = new PGLiteSocketServer({
    db,
    host,
    port: options.port,
    maxConnections: options.maxConnections ?? 100,
  });
  await server.start();
  const address = server.getServerConn();
  const port = Number(address.split(':').pop());
  const url = `postgres://postgres:postgres@${host}:${port}/postgres?sslmode=disable`;
  options.log?.info({ url, dataDir: options.dataDir ?? 'memory' }, 'embedded Postgres (PGlite) listening');
  return {
    url,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
