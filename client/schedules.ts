/**
 * Temporal Schedules kept as the configuration says, whenever the service starts: created when
 * missing, updated in place when present (spec, action, policies), never duplicated. An
 * operator's pause (and its note) survives an update: only the operator unpauses. The prune of
 * the OSTree repository is the first; the two-week releases use the same function.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';

export type ScheduleSync = 'created' | 'updated';

export async function upsertSchedule(client: Client, options: ScheduleOptions): Promise<ScheduleSync> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(options.scheduleId).update((previous) => ({
    spec: options.spec,
    action: options.action,
    policies: options.policies,
    state: { paused: previous.state.paused, note: previous.state.note, remainingActions: previous.state.remainingActions },
  }));
  return 'updated';
}

/** Deletes a schedule the configuration no longer asks for; false when there was none. */
export async function removeSchedule(client: Client, scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** A schedule as an operator reads it, or null when there is none. */
export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | null> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}
