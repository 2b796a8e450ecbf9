/**
 * Publishing from workflows: every message goes through the `publishMessage` activity on the
 * `releng` worker (which holds the bus socket), under a msg_id drawn here, deterministically,
 * so a retried publish reuses it.
 */
import { proxyActivities, uuid4 } from '@temporalio/workflow';
import type { PublishMessageResult } from '../activities/bus.js';
import type { RelengActivities } from '../activities/index.js';
import { TASK_QUEUES } from '../common/task-queues.js';

const { publishMessage } = proxyActivities<RelengActivities>({
  // The publisher lives on the releng worker, whatever queue the calling workflow runs on.
  taskQueue: TASK_QUEUES.releng,
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  summary: 'publish on the bus',
});

/**
 * The same activity for reminders, with few tries: a reminder the bus cannot take is dropped
 * (the next one follows), so a failing publisher never holds up the operator's decision it waits on.
 */
const { publishMessage: publishReminderMessage } = proxyActivities<RelengActivities>({
  taskQueue: TASK_QUEUES.releng,
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '10 seconds', maximumAttempts: 3 },
  summary: 'publish a reminder on the bus',
});

/** fedmsg's `<year>-<uuid4>`; the year and the UUID both replay identically. */
export function newMsgId(): string {
  return `${new Date().getUTCFullYear()}-${uuid4()}`;
}

export function publish(message: { readonly topic: string; readonly body: Record<string, unknown> }, msgId: string = newMsgId()): Promise<PublishMessageResult> {
  return publishMessage({ msgId, ...message });
}

/** A reminder: tried a few times, then given up without failing the run. */
export async function publishReminder(message: { readonly topic: string; readonly body: Record<string, unknown> }): Promise<void> {
  await publishReminderMessage({ msgId: newMsgId(), ...message }).catch(() => undefined);
}
