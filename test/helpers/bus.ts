/** The bus pieces tests share: the router the default configuration builds, and a bus spy. */
import type { ChildProcess } from 'node:child_process';
import { Subscriber } from 'zeromq';
import type { Client } from '@temporalio/client';
import { routerFromConfig, type Router } from '../../bus/router.js';
import { BusService, type BusServiceOptions } from '../../bus/service.js';
import type { Pool } from '../../common/db.js';
import { createLogger } from '../../common/logger.js';
import { loadConfig } from '../../common/config.js';
import { DISCOVERY_ONLY_ROUTES } from '../../common/routing.js';

/** Bus tests measure delivery: a finished compose starts the quick discovery run, not VM tests. */
export const DELIVERY_TEST_ENV = { RELENGOTRON_BUS_ROUTES: JSON.stringify(DISCOVERY_ONLY_ROUTES) } as const;

/** The environment a test's processes run with: the discovery-only routes, composes under this sandbox. */
export function deliveryTestEnv(sandbox: { readonly urls: { readonly composes: string } }): Record<string, string> {
  return { ...DELIVERY_TEST_ENV, COMPOSE_BASE_URL: sandbox.urls.composes };
}

/** The default configuration's gating lanes (the sandbox's f29 lane) with the discovery-only routes. */
export function testRouter(sandbox: { readonly urls: { readonly composes: string } }): Router {
  return routerFromConfig(loadConfig(deliveryTestEnv(sandbox)));
}

/** A bus service as the listener process builds it, on test servers, quick to retry and checkpoint. */
export function testBusService(
  base: { pool: Pool; client: Client; sandbox: { readonly busEndpoint: string; readonly urls: { readonly datagrepper: string; readonly composes: string } } },
  overrides: Partial<BusServiceOptions> = {},
): BusService {
  return new BusService({
    pool: base.pool,
    client: base.client,
    log: createLogger('test', 'silent'),
    router: testRouter(base.sandbox),
    endpoints: [base.sandbox.busEndpoint],
    datagrepperUrl: base.sandbox.urls.datagrepper,
    maxMessageBytes: 1024 * 1024,
    retryDelayMs: 100,
    backfill: { overlapMs: 60_000, checkpointIntervalMs: 200 },
    ...overrides,
  });
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly json: string;
  readonly envelope: { topic: string; msg_id: string; msg: Record<string, unknown>; [key: string]: unknown };
}

/** A plain SUB socket on an endpoint, keeping everything it receives. */
export class BusSpy {
  readonly received: ReceivedMessage[] = [];
  private readonly socket = new Subscriber();
  private readonly loop: Promise<void>;

  constructor(endpoint: string) {
    this.socket.connect(endpoint);
    this.socket.subscribe('');
    this.loop = (async () => {
      try {
        for await (const [topic, body] of this.socket) {
          const json = body!.toString('utf8');
          this.received.push({ topic: topic!.toString('utf8'), json, envelope: JSON.parse(json) as ReceivedMessage['envelope'] });
        }
      } catch {
        // closed
      }
    })();
  }

  /** Waits until a message on a topic ending with `suffix` (and matching `where`) arrived. */
  async waitFor(suffix: string, where: (m: ReceivedMessage) => boolean = () => true, timeoutMs = 15_000): Promise<ReceivedMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((m) => m.topic.endsWith(suffix) && where(m));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${suffix} message within ${timeoutMs} ms; got ${this.received.map((m) => m.topic).join(', ') || 'nothing'}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.loop;
  }
}

/** One sample of a Prometheus text page (`name{labels}` as printed), NaN when absent. */
export function metricSample(page: string, sample: string): number {
  return Number(new RegExp(`^${sample.replace(/[{}".]/g, '\\$&')} (\\d+)$`, 'm').exec(page)?.[1] ?? NaN);
}

/** Signals a child process and waits for it to exit; nothing when it has already. */
export async function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await gone;
}
