/**
 * A real Temporal dev server per test file, started by @temporalio/testing from the cached CLI
 * binary (no download), with the namespace prepared exactly as the service prepares it.
 */
import { TEST_HTTP } from './sandbox.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelengActivities, type RelengActivityDeps } from '../../activities/index.js';
import type { KojiLogin } from '../../activities/koji.js';
import type { OidcLogin } from '../../activities/oidc.js';
import { FedmsgPublisher } from '../../bus/publisher.js';
import { AmqpPublisher } from '../../bus/amqp-publisher.js';
import type { AmqpSettings } from '../../bus/amqp-connection.js';
import { createLogger } from '../../common/logger.js';
import type { Signer } from '../../common/fedmsg-crypto.js';
import { loadConfig, pushPaths, type ComposeTestingConfig, type GatingLane } from '../../common/config.js';
import type { Pool } from '../../common/db.js';
import { TASK_QUEUES } from '../../common/task-queues.js';
import { prepareNamespace } from '../../devstack/temporal-namespace.js';
import { resolveTemporalCli } from '../../devstack/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../../workers/run-worker.js';

let runtimeInstalled = false;

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli(process.env['TEMPORAL_CLI']) },
      log: { format: 'pretty', level: 'warn' },
    },
  });
  await prepareNamespace(env.connection, { namespace: env.namespace ?? 'default', retentionMs: 30 * 86_400_000 });
  return env;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per test process (webpack is slow and memory-hungry). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface RunningWorker {
  /** Where the worker's bus publisher is bound; subscribe here to see what runs publish. */
  readonly publishEndpoint: string;
  stop(): Promise<void>;
}

export interface RelengWorkerOptions {
  /** The sandbox's Koji hub; by default an address where nothing listens. */
  readonly kojiHubUrl?: string;
  readonly kojiTopUrl?: string;
  readonly signer?: Signer;
  /** Compose-testing settings (rules, plans, timeouts); the default configuration's otherwise. */
  readonly composeTesting?: ComposeTestingConfig;
  /** The sandbox's services and the push's directories and key. */
  readonly services?: { readonly bodhiUrl: string; readonly pdcUrl: string };
  readonly push?: RelengActivityDeps['push'];
  /** The gating lanes of the worker's config file; the default configuration's otherwise. */
  readonly gatingLanes?: readonly GatingLane[];
  /** The releng account's logins (the sandbox's, from relengLogins); without them writes are refused. */
  readonly logins?: { readonly koji: KojiLogin; readonly bodhi: OidcLogin };
  /** Publish on fedora-messaging too (bus.transport both), on this broker. */
  readonly amqp?: AmqpSettings;
}

/** The `releng` worker as workers/releng.ts builds it, on the test server and database. */
export async function startRelengWorker(env: TestWorkflowEnvironment, pool: Pool, options: RelengWorkerOptions = {}): Promise<RunningWorker> {
  const publisher = await FedmsgPublisher.bind({ endpoint: 'tcp://127.0.0.1:*', topicPrefix: 'org.fedoraproject', environment: 'dev', signer: options.signer ?? null });
  const amqp = options.amqp ? new AmqpPublisher(options.amqp, createLogger('test', 'silent')) : null;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUES.releng,
    workflowBundle: await workflowBundle(),
    activities: createRelengActivities({
      pool,
      bus: { envelopes: publisher, fedmsg: publisher, amqp },
      http: TEST_HTTP,
      kojiHubUrl: options.kojiHubUrl ?? 'http://127.0.0.1:9/kojihub',
      kojiLogin: options.logins?.koji ?? null,
      bodhiLogin: options.logins?.bodhi ?? null,
      kojiTopUrl: options.kojiTopUrl ?? 'http://127.0.0.1:9/kojifiles',
      kojiPollIntervalMs: 100,
      composeTesting: options.composeTesting ?? loadConfig({}).composeTesting,
      dashboardUrl: 'http://127.0.0.1:8236',
      temporal: env.client,
      bodhiUrl: options.services?.bodhiUrl ?? 'http://127.0.0.1:9/bodhi',
      pdcUrl: options.services?.pdcUrl ?? 'http://127.0.0.1:9/pdc',
      gatingLanes: options.gatingLanes ?? loadConfig({}).gating.lanes,
      push: options.push ?? pushPaths({ ...loadConfig({}), dataDir: mkdtempSync(join(tmpdir(), 'relengotron-data-')) }),
    }),
  });
  const running = worker.run();
  return {
    publishEndpoint: publisher.endpoint,
    async stop() {
      worker.shutdown();
      await running;
      publisher.close();
      await amqp?.close();
    },
  };
}
