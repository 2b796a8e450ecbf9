/**
 * The embedded default database: PGlite (Postgres compiled to WebAssembly) kept under the data
 * directory and served over the Postgres wire protocol, so every process talks to it through
 * `pg` exactly as it would to a real server (pglite-wire-server.ts says how clients share it).
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../common/logger.js';
import { serveOverWire } from './pglite-wire-server.js';

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
  readonly log?: Logger;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  const server = await serveOverWire(db, host, options.port);
  const port = server.port;
  const url = `postgres://postgres:postgres@${host}:${port}/postgres?sslmode=disable`;
  options.log?.info({ url, dataDir: options.dataDir ?? 'memory' }, 'embedded Postgres (PGlite) listening');
  return {
    url,
    async stop() {
      await server.close();
      await db.close();
    },
  };
}
