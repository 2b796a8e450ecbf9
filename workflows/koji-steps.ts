/**
 * Koji steps several workflows take: start a task over XML-RPC, then watch it until it ends.
 * Gating moves one build this way; a push moves its batch with the `moveBuilds` multicall instead.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { MoveBuildInput, MoveBuildResult } from '../activities/koji.js';

const { moveBuild, startDistRepo } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  // Koji faults (tag locked, build not in tag) are final; an offline hub is retried.
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
  summary: 'start a Koji task',
});

export const { waitForKojiTask } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  // Polls the task; a worker that dies is noticed within the heartbeat timeout.
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute' },
  summary: 'watch the Koji task',
});

export { startDistRepo };

/**
 * Moves a build between tags and waits for Koji's task. `onTaskStarted` hears of the task before
 * the wait (a caller that undoes moves must count one whose wait it never saw end).
 */
export async function moveBuildInKoji(input: MoveBuildInput, onTaskStarted?: (taskId: number) => void): Promise<MoveBuildResult> {
  const { taskId } = await moveBuild(input);
  // null: already there, an earlier attempt moved it
  if (taskId !== null) {
    onTaskStarted?.(taskId);
    await waitForKojiTask(taskId);
  }
  return { taskId };
}
