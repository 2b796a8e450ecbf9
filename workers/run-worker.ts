/**
 * One Temporal worker on one task queue, with a grace time on SIGTERM so in-flight activities
 * can finish (Temporal's default cancels them at once).
 */
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { durationToMs } from '../common/duration.js';
import type { ProcessContext } from './process.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

export interface RunWorkerOptions {
  readonly taskQueue: string;
  readonly activities: object;
  /** Only the orchestration queue runs workflows; image queues run activities alone. */
  readonly withWorkflows: boolean;
  readonly maxConcurrentActivities: number;
  /**
   * Heartbeats reach the server at most this often. Image tests want it short: a cancelled
   * test learns of it through its heartbeat, and its VM should go at once.
   */
  readonly maxHeartbeatThrottleInterval?: string;
}

export async function runWorker(context: ProcessContext, options: RunWorkerOptions): Promise<void> {
  const { config, log } = context;
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: options.taskQueue,
      activities: options.activities,
      ...(options.withWorkflows ? { workflowsPath: WORKFLOWS_PATH } : {}),
      maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities,
      ...(options.maxHeartbeatThrottleInterval ? { maxHeartbeatThrottleInterval: options.maxHeartbeatThrottleInterval } : {}),
      shutdownGraceTime: durationToMs(config.workers.shutdownGraceTime),
    });
    log.info(
      { taskQueue: options.taskQueue, namespace: config.temporal.namespace, address: config.temporal.address },
      'worker polling',
    );
    await worker.run();
    log.info({ taskQueue: options.taskQueue }, 'worker stopped');
  } finally {
    await connection.close();
  }
}
