/** Workflow starts per second from a plain client loop: what a Temporal server takes, without the bus in front. */
import type { Client } from '@temporalio/client';
import { startComposeDiscovery } from '../client/start.js';
import { TASK_QUEUES } from '../common/task-queues.js';

/**
 * Starts per second of a plain client loop with `concurrency` starts in flight, through the same
 * typed start function the listener uses (same ID policy, search attributes, summary), or the
 * barest start (`minimal`): set beside the bus's rate, what is left between them is the bus path.
 */
export async function startRate(client: Client, concurrency: number, count: number, tag: string, how: 'typed' | 'minimal'): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const n = next++;
        const composeId = `Fedora-${tag}-20261202.n.${n}`;
        const input = { composeId, location: `http://x/${composeId}/compose`, pungiStatus: 'FINISHED' };
        if (how === 'typed') await startComposeDiscovery(client, input, { msgId: `2026-bench-${tag}-${n}`, topic: 'bench' });
        // The barest start the server takes: no search attributes, summary or ID policies.
        else await client.workflow.start('discoverCompose', { taskQueue: TASK_QUEUES.releng, workflowId: `bench-${tag}/${n}`, args: [input] });
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}
