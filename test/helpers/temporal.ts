/**
 * A real Temporal dev server per test file, started by @temporalio/testing from the cached CLI
 * binary (no download), with the namespace prepared exactly as the service prepares it.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
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
