/**
 * npm run bench: how fast bus messages become durable workflow starts, beside how fast the same
 * Temporal dev server accepts starts from a plain client loop. Prints figures and their ratio.
 *   BENCH_MESSAGES (default 500), BENCH_CLIENT_CONCURRENCY (default 8)
 */
import { join } from 'node:path';
import { routerFromConfig } from '../bus/router.js';
import { DISCOVERY_ONLY_ROUTES } from '../common/routing.js';
import { loadConfig } from '../common/config.js';
import { BusService } from '../bus/service.js';
import { createLogger } from '../common/logger.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { startSandbox } from '../sandbox/server.js';
import { runBench, startBenchStack } from './stack.js';
import { freePort } from '../common/ports.js';

const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 500);
const CONCURRENCY = Number(process.env['BENCH_CLIENT_CONCURRENCY'] ?? 8);
const say = (line: string) => process.stdout.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const stack = await startBenchStack('bus', 10);
  const { client, pool } = stack;
  const busEndpoint = `tcp://127.0.0.1:${await freePort()}`;
  const sandbox = await startSandbox({ port: 0, composeDir: join(stack.dataDir, 'composes'), busEndpoint });
  say(`releng-o-tron bus benchmark: ${MESSAGES} messages; Temporal dev server (SQLite file, WAL); Postgres: ${stack.database}`);

  // 1. The server's bare start rate: a plain client loop, CONCURRENCY starts in flight.
  let next = 0;
  const bareStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < MESSAGES) {
        const n = next++;
        await client.workflow.start('discoverCompose', { taskQueue: TASK_QUEUES.releng, workflowId: `bench-bare/${n}`, args: [{ composeId: `bare-${n}`, location: 'http://x/compose', pungiStatus: 'FINISHED' }] });
      }
    }),
  );
  const bareRate = MESSAGES / ((performance.now() - bareStart) / 1000);

  // 2. Through the bus: publish → validate → Postgres inbox → start (order kept, one at a time).
  const service = new BusService({
    pool, client, log: createLogger('bench', 'error'), router: routerFromConfig(loadConfig({ RELENGOTRON_BUS_ROUTES: JSON.stringify(DISCOVERY_ONLY_ROUTES) })), endpoints: [busEndpoint], datagrepperUrl: sandbox.urls.datagrepper,
    maxMessageBytes: 1024 * 1024, retryDelayMs: 100,
    backfill: { overlapMs: 60_000, topicPrefixes: ['org.fedoraproject.prod'], checkpointIntervalMs: 10_000 },
  });
  service.start();
  await sandbox.bus!.waitForSubscribers(1, 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  const publishedAt = new Map<string, number>();
  const busStart = Date.now();
  for (let n = 0; n < MESSAGES; n++) {
    const composeId = `Fedora-Bench-20261123.n.${n}`;
    publishedAt.set(`compose-discovery/${composeId}`, Date.now());
    await sandbox.bus!.publish({ topic: 'org.fedoraproject.prod.pungi.compose.status.change', msg: { compose_id: composeId, location: `http://x/${composeId}/compose`, status: 'FINISHED' } });
  }
  while (service.listener.counters.started < MESSAGES) await new Promise((r) => setTimeout(r, 50));
  const busEnd = Date.now();
  const query = `WorkflowType = 'discoverCompose' AND WorkflowId STARTS_WITH 'compose-discovery/Fedora-Bench-'`;
  // Visibility trails the starts a little; wait until it shows them all.
  while ((await client.workflow.count(query)).count < MESSAGES) await new Promise((r) => setTimeout(r, 200));
  const latencies: number[] = [];
  for await (const info of client.workflow.list({ query })) {
    latencies.push(info.startTime.getTime() - publishedAt.get(info.workflowId)!);
  }
  latencies.sort((a, b) => a - b);
  const busRate = MESSAGES / ((busEnd - busStart) / 1000);

  say('');
  say(`bare client loop (${CONCURRENCY} in flight):     ${bareRate.toFixed(1)} starts/s`);
  say(`bus → inbox → durable start:           ${busRate.toFixed(1)} messages/s`);
  say(`publish → start latency:               p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} runs)`);
  say(`ratio bus / bare:                      ${(busRate / bareRate).toFixed(2)}`);
  say(`duplicates ${service.listener.counters.duplicate}, invalid ${service.listener.counters.invalid}`);

  await service.stop();
  await sandbox.stop();
  await stack.stop();
}

runBench(main);
