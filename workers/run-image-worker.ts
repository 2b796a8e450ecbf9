/**
 * The image-test workers differ only in provider; this is the whole of each. A worker runs the
 * image-test child workflows routed to its queue and their one activity (fetch, boot, test), at
 * most `maxConcurrentActivities` VMs at a time, so busy hosts stop taking jobs and idle ones take them.
 */
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { HostAccelerator } from '../activities/accelerator.js';
import { createImageActivities } from '../activities/index.js';
import { ImageCache } from '../activities/image-cache.js';
import { sweepAbandonedWorkDirs, type HostReport, type VmBackend } from '../activities/image-test.js';
import { libvirtAnswers } from '../activities/libvirt.js';
import type { ImageProvider } from '../common/compose-testing.js';
import { providerQueue } from '../common/task-queues.js';
import { attemptStartedSignal } from '../workflows/api/image-test.js';
import { installTemporalRuntime, runMain, startProcess } from './process.js';
import { runWorker } from './run-worker.js';

async function chooseVmBackend(provider: ImageProvider, wanted: 'auto' | 'libvirt' | 'qemu', uri: string): Promise<VmBackend> {
  if (provider !== 'libvirt' || wanted === 'qemu') return { kind: 'qemu' };
  if (await libvirtAnswers(uri)) return { kind: 'libvirt', uri };
  if (wanted === 'libvirt') throw new Error(`workers.vmBackend is libvirt, but libvirtd does not answer at ${uri} (virsh -c ${uri} version)`);
  return { kind: 'qemu' };
}

export function runImageWorker(provider: ImageProvider): void {
  const context = startProcess(`worker-image-${provider}`);
  const { config, log } = context;
  runMain(log, async () => {
    installTemporalRuntime(log);
    const cacheDir = config.workers.imageCacheDir ?? join(config.dataDir, 'image-cache');
    const workRoot = config.workers.vmWorkDir ?? join(config.dataDir, 'vms');
    const swept = await sweepAbandonedWorkDirs(workRoot);
    if (swept.length > 0) log.warn({ swept }, 'removed VM directories a killed worker left behind');
    const vmBackend = await chooseVmBackend(provider, config.workers.vmBackend, config.workers.libvirtUri);
    if (provider === 'libvirt') log.info({ vmBackend }, 'starting VMs through this backend');
    const accelerator = new HostAccelerator({
      qemu: config.workers.qemu,
      mode: config.workers.kvm,
      onChange: (choice) => (choice.accelerator === 'kvm' ? log.info(choice, 'VMs run under KVM') : log.warn(choice, 'VMs run under TCG')),
    });
    // Probed now, not at the first job: the log says at start what this host will do.
    if (provider === 'libvirt') await accelerator.current();
    const connection = await Connection.connect(temporalConnectionOptions(config));
    const client = new Client({ connection, namespace: config.temporal.namespace });
    try {
      const slots = provider === 'libvirt' ? config.workers.imageLibvirt.maxConcurrentActivities : config.workers.imageVbox.maxConcurrentActivities;
      await runWorker(context, {
        taskQueue: providerQueue(provider),
        // Image tests started before PATCHES.imageTestOnRelengQueue run their workflow on this queue.
        withWorkflows: true,
        activities: createImageActivities(provider, {
          workRoot,
          vmBackend,
          accelerator,
          cache: new ImageCache(cacheDir, { budgetBytes: config.workers.imageCacheBudget, unpackBytes: config.workers.imageUnpackLimit }),
          reportAttempt: (workflowId: string, report: HostReport) => client.workflow.getHandle(workflowId).signal(attemptStartedSignal, report),
        }),
        maxConcurrentActivities: slots,
        maxHeartbeatThrottleInterval: '5s',
      });
    } finally {
      await connection.close();
    }
  });
}
