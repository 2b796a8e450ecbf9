/**
 * npm run bench, cluster part (BENCH_ONLY=cluster; not in the default run): the same figures on the
 * production layout of deploy/ (temporal-server v1.29.1 on the machine's Postgres, mTLS, brought
 * up as test/cluster/cluster.ts does for `npm run test:cluster`) beside the dev server (SQLite), on
 * this machine, in one run: workflow starts per second from a client loop, and the wall time of
 * the 2,000-update push (bench/large-push.ts) with the real releng worker process.
 *   BENCH_MESSAGES (starts per measurement, default 1000), BENCH_CLIENT_CONCURRENCY (default 16)
 */
import { Client } from '@temporalio/client';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { startCluster } from '../test/cluster/cluster.js';
import { measureLargePush, type LargePushFigures } from './large-push.js';
import { runBench, startBenchStack } from './stack.js';
import { startRate } from './start-rate.js';

const STARTS = Number(process.env['BENCH_MESSAGES'] ?? 1000);
const CONCURRENCY = Number(process.env['BENCH_CLIENT_CONCURRENCY'] ?? 16);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Figures {
  readonly startsPerSecond: number;
  readonly push: LargePushFigures;
}

async function measure(client: Client, temporalEnv: Record<string, string>, databaseUrl: string, dataDir: string, tag: string): Promise<Figures> {
  await startRate(client, CONCURRENCY, Math.min(300, STARTS), `${tag}WarmUp`, 'typed');
  const startsPerSecond = await startRate(client, CONCURRENCY, STARTS, `${tag}Starts`, 'typed');
  say(`${tag}: ${startsPerSecond.toFixed(0)} starts/s; the push runs...`);
  const push = await measureLargePush({ client, temporalEnv, databaseUrl, dataDir, pushId: tag === 'dev' ? '20261123T180000Z' : '20261123T190000Z' });
  say(`${tag}: the push took ${push.seconds.toFixed(1)} s`);
  return { startsPerSecond, push };
}

async function main(): Promise<void> {
  // One releng-o-tron database for both parts (DATABASE_URL, or the embedded PGlite): only Temporal differs.
  const stack = await startBenchStack('cluster', 4);
  say(`releng-o-tron on a Temporal cluster beside the dev server: ${STARTS} typed starts at concurrency ${CONCURRENCY}, then the large push; releng-o-tron's database: ${stack.database}`);
  const dev = await measure(stack.client, { TEMPORAL_ADDRESS: stack.temporalAddress }, stack.databaseUrl, stack.dataDir, 'dev');

  const cluster = await startCluster({ prefix: 'relengotron_bench', log: say });
  const connection = await cluster.connect();
  try {
    await prepareNamespace(connection, { namespace: cluster.namespace, retentionMs: 86_400_000 });
    const client = new Client({ connection, namespace: cluster.namespace });
    const temporalEnv = { TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: cluster.namespace, ...cluster.clientTls };
    const onCluster = await measure(client, temporalEnv, stack.databaseUrl, stack.dataDir, 'cluster');

    say('');
    say(`                                   dev server (SQLite)   cluster (Postgres, mTLS)   cluster / dev`);
    say(`workflow starts/s:                 ${dev.startsPerSecond.toFixed(0).padStart(19)}   ${onCluster.startsPerSecond.toFixed(0).padStart(24)}   ${(onCluster.startsPerSecond / dev.startsPerSecond).toFixed(2).padStart(13)}`);
    say(`${dev.push.updates}-update push wall time (s):  ${dev.push.seconds.toFixed(1).padStart(19)}   ${onCluster.push.seconds.toFixed(1).padStart(24)}   ${(onCluster.push.seconds / dev.push.seconds).toFixed(2).padStart(13)}`);
    say(`longest history of the push (events): ${String(dev.push.runs[0]!.events).padStart(15)}   ${String(onCluster.push.runs[0]!.events).padStart(24)}`);
    say(`seeded: ${dev.push.seeded}; ${onCluster.push.composed} artifacts composed on the cluster, ${dev.push.composed} on the dev server`);
  } finally {
    await connection.close();
    await cluster.stop();
    await stack.stop();
  }
}

runBench(main);
