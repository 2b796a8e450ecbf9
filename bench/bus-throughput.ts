/**
 * npm run bench: how fast bus messages become durable workflow starts, beside how fast the same
 * Temporal dev server accepts starts from a plain client loop at the same concurrency; then the
 * publish → start latency of a paced stream, as live traffic arrives; then the same burst over
 * fedora-messaging (AMQP, the machine's RabbitMQ) beside the ZeroMQ one. Prints figures and ratios.
 *   BENCH_MESSAGES (default 1000), BENCH_CLIENT_CONCURRENCY (default 16, also the dispatcher's),
 *   BENCH_PACED_RATE (messages/s, default 50), BENCH_PACED_SECONDS (default 10)
 */
import { join } from 'node:path';
import { routerFromConfig } from '../bus/router.js';
import { DISCOVERY_ONLY_ROUTES } from '../common/routing.js';
import { loadConfig, type Config } from '../common/config.js';
import { randomUUID } from 'node:crypto';
import { amqpSettings, connectAmqp, redactedUrl } from '../bus/amqp-connection.js';
import { AmqpPublisher } from '../bus/amqp-publisher.js';
import { amqpMessageFor } from '../bus/fedora-messaging.js';
import { BusService } from '../bus/service.js';
import { createLogger } from '../common/logger.js';
import { startSandbox, type Sandbox } from '../sandbox/server.js';
import { runBench, startBenchStack, type BenchStack } from './stack.js';
import { startRate } from './start-rate.js';
import { freePort } from '../common/ports.js';

const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 1000);
const CONCURRENCY = Number(process.env['BENCH_CLIENT_CONCURRENCY'] ?? 16);
const PACED_RATE = Number(process.env['BENCH_PACED_RATE'] ?? 50);
const PACED_SECONDS = Number(process.env['BENCH_PACED_SECONDS'] ?? 10);
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const say = (line: string) => process.stdout.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A finished compose's message body, its location under the sandbox's composes. */
const finished = (sandbox: Sandbox, composeId: string) => ({ compose_id: composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, status: 'FINISHED' });

/** Publishes `count` finished composes (at `perSecond`, or as fast as the publisher goes) and waits for their runs. */
async function throughBus(
  stack: BenchStack,
  publish: (composeId: string) => Promise<void>,
  tag: string,
  count: number,
  perSecond: number | null,
): Promise<{ rate: number; latencies: number[] }> {
  const publishedAt = new Map<string, number>();
  const started = Date.now();
  for (let n = 0; n < count; n++) {
    const composeId = `Fedora-${tag}-20261202.n.${n}`;
    publishedAt.set(`compose-discovery/${composeId}`, Date.now());
    await publish(composeId);
    if (perSecond) {
      const due = started + ((n + 1) * 1000) / perSecond;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  }
  const query = `WorkflowType = 'discoverCompose' AND WorkflowId STARTS_WITH 'compose-discovery/Fedora-${tag}-'`;
  // Visibility trails the starts a little; the start times it reports are the server's own.
  while ((await stack.client.workflow.count(query)).count < count) await new Promise((r) => setTimeout(r, 100));
  const latencies: number[] = [];
  let last = 0;
  for await (const info of stack.client.workflow.list({ query })) {
    latencies.push(info.startTime.getTime() - publishedAt.get(info.workflowId)!);
    last = Math.max(last, info.startTime.getTime());
  }
  latencies.sort((a, b) => a - b);
  return { rate: count / ((last - started) / 1000), latencies };
}

async function main(): Promise<void> {
  const stack = await startBenchStack('bus', CONCURRENCY + 4);
  const busEndpoint = `tcp://127.0.0.1:${await freePort()}`;
  const sandbox = await startSandbox({ port: 0, composeDir: join(stack.dataDir, 'composes'), busEndpoint });
  say(`releng-o-tron bus benchmark: ${MESSAGES} messages, ${CONCURRENCY} starts in flight; Temporal dev server (SQLite file, WAL); Postgres: ${stack.database}`);

  // A fresh server is slower for its first few hundred starts: warm it up before measuring either path.
  await startRate(stack.client, CONCURRENCY, 300, 'WarmUp', 'typed');
  const minimalRate = await startRate(stack.client, CONCURRENCY, MESSAGES, 'Minimal', 'minimal');
  const bareRate = await startRate(stack.client, CONCURRENCY, MESSAGES, 'Bare', 'typed');
  const config = loadConfig({ RELENGOTRON_BUS_ROUTES: JSON.stringify(DISCOVERY_ONLY_ROUTES), COMPOSE_BASE_URL: sandbox.urls.composes });
  const listening = async (): Promise<BusService> => {
    const service = new BusService({
      pool: stack.pool, client: stack.client, log: createLogger('bench', 'error'), router: routerFromConfig(config), endpoints: [busEndpoint], datagrepperUrl: sandbox.urls.datagrepper,
      maxMessageBytes: 1024 * 1024, retryDelayMs: 100,
      backfill: { overlapMs: 60_000, checkpointIntervalMs: 10_000 },
      dispatch: { concurrency: CONCURRENCY },
    });
    service.start();
    await sandbox.bus!.waitForSubscribers(1, 30_000);
    // Let the start-up catch-up from datagrepper finish, so it does not compete with what is measured.
    await new Promise((r) => setTimeout(r, 3000));
    return service;
  };
  const overZeroMq = (composeId: string) => sandbox.bus!.publish({ topic: TOPIC, msg: finished(sandbox, composeId) }).then(() => undefined);
  let service = await listening();
  const burst = await throughBus(stack, overZeroMq, 'Burst', MESSAGES, null);
  const counters = { ...service.listener.counters };
  await service.stop();
  // The AMQP burst right after the ZeroMQ one, so both meet the Temporal server in the same state.
  const amqp = await amqpBurst(stack, sandbox, config);
  service = await listening();
  const paced = await throughBus(stack, overZeroMq, 'Paced', PACED_RATE * PACED_SECONDS, PACED_RATE);
  await service.stop();

  say('');
  say(`client loop, minimal starts (${CONCURRENCY} in flight):            ${minimalRate.toFixed(1)} starts/s`);
  say(`client loop, the listener's start function (${CONCURRENCY} in flight): ${bareRate.toFixed(1)} starts/s`);
  say(`burst: bus → inbox → durable start:      ${burst.rate.toFixed(1)} messages/s  (ratio to the same starts from a client loop: ${(burst.rate / bareRate).toFixed(2)}; to minimal starts: ${(burst.rate / minimalRate).toFixed(2)})`);
  say(`burst: publish → start latency:          p50 ${percentile(burst.latencies, 50)} ms, p99 ${percentile(burst.latencies, 99)} ms (${burst.latencies.length} runs)`);
  say(`paced ${PACED_RATE} msg/s for ${PACED_SECONDS} s: publish → start:  p50 ${percentile(paced.latencies, 50)} ms, p99 ${percentile(paced.latencies, 99)} ms (${paced.latencies.length} runs)`);
  say(`listener (ZeroMQ burst): ${counters.received} received, ${counters.started} started, ${counters.duplicate} duplicates (datagrepper catch-up overlap), ${counters.invalid} refused, ${counters.startFailures} failed starts`);
  if ('skipped' in amqp) say(`AMQP burst: skipped, ${amqp.skipped}`);
  else {
    say(`burst: AMQP → inbox → durable start:     ${amqp.rate.toFixed(1)} messages/s  (ratio to the ZeroMQ burst: ${(amqp.rate / burst.rate).toFixed(2)}; to the client loop: ${(amqp.rate / bareRate).toFixed(2)}; prefetch ${amqp.prefetch}, each acked after its inbox row)`);
    say(`burst: AMQP publish (confirmed) → start:  p50 ${percentile(amqp.latencies, 50)} ms, p99 ${percentile(amqp.latencies, 99)} ms (${amqp.latencies.length} runs)`);
  }

  await sandbox.stop();
  await stack.stop();
}

/**
 * The ZeroMQ burst again over fedora-messaging: a listener hearing only AMQP, a durable queue of its
 * own on a bench exchange, messages published with confirms (up to 64 unconfirmed) as Fedora's apps do.
 */
async function amqpBurst(stack: BenchStack, sandbox: Sandbox, base: Config): Promise<{ rate: number; latencies: number[]; prefetch: number } | { skipped: string }> {
  const run = randomUUID().slice(0, 8);
  const config: Config = { ...base, bus: { ...base.bus, amqp: { ...base.bus.amqp, exchange: `releng-o-tron-bench-${run}`, queue: `releng-o-tron-bench-${run}` } } };
  const settings = amqpSettings(config);
  let admin;
  try {
    admin = await connectAmqp(settings, 'bench');
  } catch (err) {
    return { skipped: `no RabbitMQ at ${redactedUrl(settings.url)} (${(err as Error).message})` };
  }
  const channel = await admin.createChannel();
  await channel.assertExchange(settings.exchange, 'topic', { durable: false, autoDelete: true });
  const service = new BusService({
    pool: stack.pool, client: stack.client, log: createLogger('bench', 'error'), router: routerFromConfig(config), fedmsg: false, endpoints: [], amqp: settings,
    datagrepperUrl: sandbox.urls.datagrepper, maxMessageBytes: 1024 * 1024, retryDelayMs: 100,
    backfill: { overlapMs: 60_000, checkpointIntervalMs: 10_000 },
    dispatch: { concurrency: CONCURRENCY },
  });
  service.start();
  while (!service.amqp!.connected) await new Promise((r) => setTimeout(r, 50));
  const publisher = new AmqpPublisher(settings, createLogger('bench', 'error'));
  const inFlight = new Set<Promise<void>>();
  const result = await throughBus(
    stack,
    async (composeId) => {
      const sent = publisher.publish(amqpMessageFor({ topic: TOPIC, msg_id: randomUUID(), timestamp: Date.now() / 1000, msg: finished(sandbox, composeId) }));
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= 64) await Promise.race(inFlight);
    },
    'Amqp',
    MESSAGES,
    null,
  );
  await Promise.all(inFlight);
  await service.stop();
  await publisher.close();
  await channel.deleteQueue(settings.queue).catch(() => undefined);
  await admin.close();
  return { ...result, prefetch: settings.prefetch };
}

runBench(main);
