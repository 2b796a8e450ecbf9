/**
 * npm run bench, cluster part (BENCH_ONLY=cluster; not in the default run): the same figures on the
 * production layout of deploy/ (temporal-server v1.29.1 on the machine's Postgres, mTLS, brought
 * up as test/cluster/cluster.ts does for `npm run test:cluster`) beside the dev server (SQLite), on
 * this machine, in one run: the wall time of the 2,000-update push (bench/large-push.ts) with the
 * real releng worker process, and workflow starts per second from a client loop.
 *   BENCH_MESSAGES (starts per measurement, default 1000), BENCH_CLIENT_CONCURRENCY (default 16)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { startCluster } from '../test/cluster/cluster.js';
import { measureLargePush, type LargePushFigures } from './large-push.js';
import { runBench, startBenchDatabase, startBenchStack } from './stack.js';
import { startRate } from './start-rate.js';

const STARTS = Number(process.env['BENCH_MESSAGES'] ?? 1000);
const CONCURRENCY = Number(process.env['BENCH_CLIENT_CONCURRENCY'] ?? 16);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Figures {
  readonly startsPerSecond: number;
  readonly push: LargePushFigures;
}

/**
 * The push first, with its worker; then the starts, with no worker polling (the runs they start
 * would otherwise be worked on, and fail against their made-up compose servers, during the push).
 */
async function measure(client: Client, temporalEnv: Record<string, string>, databaseUrl: string, dataDir: string, tag: string): Promise<Figures> {
  const push = await measureLargePush({ client, temporalEnv, databaseUrl, dataDir, pushId: '20261123T180000Z' });
  say(`${tag}: the push took ${push.seconds.toFixed(1)} s; the starts run...`);
  await startRate(client, CONCURRENCY, Math.min(300, STARTS), `${tag}WarmUp`, 'typed');
  const startsPerSecond = await startRate(client, CONCURRENCY, STARTS, `${tag}Starts`, 'typed');
  say(`${tag}: ${startsPerSecond.toFixed(0)} starts/s`);
  return { startsPerSecond, push };
}

async function main(): Promise<void> {
  // Each side alone on the machine, with its own releng-o-tron database (DATABASE_URL, or an
  // embedded PGlite of its own) and its own data directory: only Temporal differs.
  const stack = await startBenchStack('cluster-dev', 4);
  say(`releng-o-tron on a Temporal cluster beside the dev server: the large push, then ${STARTS} typed starts at concurrency ${CONCURRENCY}; releng-o-tron's database: ${stack.database}`);
  let dev: Figures;
  try {
    dev = await measure(stack.client, { TEMPORAL_ADDRESS: stack.temporalAddress }, stack.databaseUrl, join(stack.dataDir, 'bench'), 'dev');
  } finally {
    await stack.stop();
  }

  const database = await startBenchDatabase(4);
  const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-bench-cluster-'));
  const cluster = await startCluster({ prefix: 'relengotron_bench', log: say }).catch(async (err: unknown) => {
    await database.stop();
    throw err;
  });
  try {
    const connection = await cluster.connect();
    try {
      await prepareNamespace(connection, { namespace: cluster.namespace, retentionMs: 86_400_000 });
      const client = new Client({ connection, namespace: cluster.namespace });
      const temporalEnv = { TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: cluster.namespace, ...cluster.clientTls };
      const onCluster = await measure(client, temporalEnv, database.url, dataDir, 'cluster');
      report(dev, onCluster);
    } finally {
      await connection.close();
    }
  } finally {
    await cluster.stop();
    await database.stop();
  }
}

function report(dev: Figures, onCluster: Figures): void {
  say('');
  say(`                                   dev server (SQLite)   cluster (Postgres, mTLS)   cluster / dev`);
  say(`workflow starts/s:                 ${dev.startsPerSecond.toFixed(0).padStart(19)}   ${onCluster.startsPerSecond.toFixed(0).padStart(24)}   ${(onCluster.startsPerSecond / dev.startsPerSecond).toFixed(2).padStart(13)}`);
  say(`${dev.push.updates}-update push wall time (s):  ${dev.push.seconds.toFixed(1).padStart(19)}   ${onCluster.push.seconds.toFixed(1).padStart(24)}   ${(onCluster.push.seconds / dev.push.seconds).toFixed(2).padStart(13)}`);
  say(`longest history of the push (events): ${String(dev.push.runs[0]!.events).padStart(15)}   ${String(onCluster.push.runs[0]!.events).padStart(24)}`);
  say(`seeded: ${dev.push.seeded}; ${onCluster.push.composed} artifacts composed on the cluster, ${dev.push.composed} on the dev server`);
}

runBench(main);
