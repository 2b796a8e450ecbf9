/** The image-test workers differ only in provider; this is the whole of each. */
import { createImageHostActivities } from '../activities/index.js';
import type { ImageProvider } from '../activities/image-host.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { installTemporalRuntime, runMain, startProcess } from './process.js';
import { runWorker } from './run-worker.js';

export function runImageWorker(provider: ImageProvider): void {
  const context = startProcess(`worker-image-${provider}`);
  runMain(context.log, async () => {
    installTemporalRuntime(context.log);
    await runWorker(context, {
      taskQueue: provider === 'libvirt' ? TASK_QUEUES.imageLibvirt : TASK_QUEUES.imageVbox,
      withWorkflows: false,
      activities: createImageHostActivities(provider),
      maxConcurrentActivities:
        provider === 'libvirt'
          ? context.config.workers.imageLibvirt.maxConcurrentActivities
          : context.config.workers.imageVbox.maxConcurrentActivities,
    });
  });
}
