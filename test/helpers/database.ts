/**
 * A fresh Postgres database per test file on the real server (TEST_DATABASE_URL, default the
 * local one), migrated and dropped afterwards. Without a reachable server the embedded PGlite
 * server stands in, so `npm test` also runs on a machine that has no Postgres.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool, migrate, type Pool } from '../../common/db.js';
import { startEmbeddedPostgres } from '../../devstack/embedded-postgres.js';

export const ADMIN_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly url: string;
  readonly pool: Pool;
  readonly kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  if (!(await reachable(ADMIN_URL))) {
    process.stderr.write(`# ${ADMIN_URL} unreachable: using the embedded PGlite server\n`);
    const embedded = await startEmbeddedPostgres({ port: 0 });
    const pool = createPool(embedded.url);
    await migrate(pool);
    return { url: embedded.url, pool, kind: 'pglite', drop: async () => (await pool.end(), await embedded.stop()) };
  }
  const name = `relengotron_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString());
  await migrate(pool);
  return {
    url: url.toString(),
    pool,
    kind: 'postgres',
    async drop() {
      await pool.end();
      const cleanup = new pg.Client({ connectionString: ADMIN_URL });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
