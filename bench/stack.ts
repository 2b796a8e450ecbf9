/**
 * What every benchmark runs on: a Temporal dev server of its own (SQLite file), Postgres
 * (DATABASE_URL, or the embedded PGlite) with the migrations applied, and a client; and the
 * process wrapper that prints a failure and sets the exit code.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createPool, migrate, type Pool } from '../common/db.js';
import { freePort } from '../common/ports.js';
import { startEmbeddedPostgres } from '../devstack/embedded-postgres.js';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { resolveTemporalCli, startTemporalDevServer } from '../devstack/temporal-dev-server.js';

export interface BenchStack {
  readonly dataDir: string;
  readonly temporalAddress: string;
  readonly client: Client;
  readonly databaseUrl: string;
  /** 'embedded PGlite' or 'DATABASE_URL'. */
  readonly database: string;
  readonly pool: Pool;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  readonly url: string;
  /** 'embedded PGlite' or 'DATABASE_URL'. */
  readonly kind: string;
  readonly pool: Pool;
  stop(): Promise<void>;
}

/** releng-o-tron's database for a benchmark, migrated: DATABASE_URL, or an embedded PGlite of its own. */
export async function startBenchDatabase(poolSize: number): Promise<BenchDatabase> {
  const embedded = process.env['DATABASE_URL'] ? null : await startEmbeddedPostgres({ port: 0 });
  const url = process.env['DATABASE_URL'] ?? embedded!.url;
  const pool = createPool(url, poolSize);
  await migrate(pool);
  return {
    url,
    kind: embedded ? 'embedded PGlite' : 'DATABASE_URL',
    pool,
    async stop() {
      await pool.end();
      await embedded?.stop();
    },
  };
}

export async function startBenchStack(name: string, poolSize: number): Promise<BenchStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `relengotron-bench-${name}-`));
  const temporal = await startTemporalDevServer({ cliPath: resolveTemporalCli(process.env['TEMPORAL_CLI']), dataDir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
  const database = await startBenchDatabase(poolSize);
  const connection = await Connection.connect({ address: temporal.address });
  await prepareNamespace(connection, { namespace: 'default', retentionMs: 86_400_000 });
  return {
    dataDir,
    temporalAddress: temporal.address,
    client: new Client({ connection }),
    databaseUrl: database.url,
    database: database.kind,
    pool: database.pool,
    async stop() {
      await connection.close();
      await database.stop();
      await temporal.stop();
    },
  };
}

/** Runs a benchmark's main and exits: 0, or 1 with the error on stderr. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
