/**
 * A real Temporal dev server per test file, started by @temporalio/testing from the cached CLI
 * binary (no download), with the namespace prepared exactly as the service prepares it.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createRelengActivities } from '../../activities/index.js';
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
  stop(): Promise<void>;
}

/** The `releng` worker as workers/releng.ts builds it, on the test server and database. */
export async function startRelengWorker(env: TestWorkflowEnvironment, pool: Pool): Promise<RunningWorker> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUES.releng,
    workflowBundle: await workflowBundle(),
    activities: createRelengActivities({ pool, requestTimeoutMs: 5_000 }),
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}
