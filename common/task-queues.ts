/**
 * Task queues are part of the contract between workflows and workers (a workflow routes an
 * image test to the host type that can run it), so they are constants, not deployment settings.
 */
export const TASK_QUEUES = {
  /** Orchestration and every activity that talks to an API. */
  releng: 'releng',
  /** Image tests on hosts with qemu/libvirt. */
  imageLibvirt: 'image-libvirt',
  /** Image tests on hosts with VirtualBox (which cannot share a host with KVM). */
  imageVbox: 'image-vbox',
} as const;

export type TaskQueue = (typeof TASK_QUEUES)[keyof typeof TASK_QUEUES];

/** The queue of the hosts that boot images for a provider. */
export function providerQueue(provider: string): TaskQueue {
  return provider === 'vbox' ? TASK_QUEUES.imageVbox : TASK_QUEUES.imageLibvirt;
}
