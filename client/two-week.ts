/**
 * Two-week releases from the CLI and at start: each stream's Schedule kept as `twoWeek.streams`
 * says, and the operator's levers: status, trigger, pause/unpause, mark-good/mark-bad, block/
 * unblock, approve. Marks and blocks go to the results store (with who and why), where every run
 * reads them.
 */
import { userInfo } from 'node:os';
import { ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { markCompose, readTwoWeekState, setTwoWeekBlock } from '../activities/two-week.js';
import type { Config } from '../common/config.js';
import type { Pool } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import { failureText } from '../common/failure-text.js';
import type { Logger } from '../common/logger.js';
import { chooseCompose } from '../common/two-week.js';
import { scheduleIds } from '../common/workflow-ids.js';
import { APPROVAL_REFUSED, approveTwoWeekReleaseUpdate } from '../workflows/api/two-week.js';
import { removeSchedule, upsertSchedule, describeSchedule } from './schedules.js';
import { twoWeekScheduleAction, twoWeekSettings } from './start.js';

/** A stream's Schedule as config describes it: every 14 days (or a cron line), overlapping runs skipped, a catch-up window. */
export function twoWeekSchedule(config: Pick<Config, 'twoWeek' | 'push'>, stream: string): ScheduleOptions {
  const { schedule } = config.twoWeek.streams[stream]!;
  return {
    scheduleId: scheduleIds.twoWeek(stream),
    spec: schedule.cron
      ? { cronExpressions: [schedule.cron], timezone: schedule.timezone }
      : { intervals: [{ every: durationToMs(schedule.every), offset: durationToMs(schedule.offset) }], timezone: schedule.timezone },
    action: twoWeekScheduleAction({ stream, settings: twoWeekSettings(config, stream) }),
    policies: {
      // A release still running (an approval window, a long sync) is left to finish: the next run would choose the same compose.
      overlap: 'SKIP',
      catchupWindow: durationToMs(schedule.catchupWindow),
      // A failed release shows in its run; the next one is attempted all the same.
      pauseOnFailure: false,
    },
  };
}

/** At start: every configured stream's Schedule made or brought up to date; ones no longer configured deleted. */
export async function syncTwoWeekSchedules(client: Client, config: Pick<Config, 'twoWeek' | 'push'>, log: Logger): Promise<Record<string, string>> {
  const done: Record<string, string> = {};
  for (const stream of Object.keys(config.twoWeek.streams)) done[stream] = await upsertSchedule(client, twoWeekSchedule(config, stream));
  const prefix = scheduleIds.twoWeek('');
  for await (const schedule of client.schedule.list()) {
    const stream = schedule.scheduleId.startsWith(prefix) ? schedule.scheduleId.slice(prefix.length) : null;
    if (stream !== null && !(stream in config.twoWeek.streams) && (await removeSchedule(client, schedule.scheduleId))) done[stream] = 'removed';
  }
  if (Object.keys(done).length > 0) log.info({ schedules: done }, 'two-week release schedules');
  return done;
}

/** Who is acting, for marks and blocks: `--by`, else the login name. */
const actor = (by: string | undefined): string => by ?? userInfo().username;

export class TwoWeekUsageError extends Error {
  override name = 'TwoWeekUsageError';
}

/** What the stream would release now, and why, with its block, marks and last release: `relengotron twoweek status`. */
export async function twoWeekStatus(client: Client, pool: Pool, config: Pick<Config, 'twoWeek' | 'push'>, stream: string): Promise<string> {
  const settings = twoWeekSettings(config, stream);
  const state = await readTwoWeekState(pool, { stream, composeStream: settings.composeStream });
  const choice = chooseCompose(state.candidates, state.marks, { minPassed: settings.minPassed });
  const schedule = await describeSchedule(client, scheduleIds.twoWeek(stream));
  const lines = [
    `${stream}: composes of ${settings.composeStream} into ${settings.stableDir}`,
    `schedule: ${schedule ? `${schedule.state.paused ? `PAUSED (${schedule.state.note ?? 'no note'})` : 'active'}; next ${schedule.info.nextActionTimes[0]?.toISOString() ?? 'none'}` : 'none (relengotron up makes it)'}`,
    `blocked: ${state.block ? `yes, by ${state.block.blockedBy} at ${state.block.blockedAt}: ${state.block.reason}` : 'no'}`,
    `released: ${state.lastRelease ? `${state.lastRelease.composeId} at ${state.lastRelease.releasedAt} (${state.lastRelease.workflowId})` : 'nothing yet'}`,
    `would release: ${choice.chosen ? `${choice.chosen.composeId} (${choice.chosen.why})` : 'nothing'}`,
    ...choice.passedOver.map((p) => `  passed over ${p.composeId}: ${p.why}`),
    ...state.marks.map((m) => `  marked ${m.verdict}: ${m.composeId} by ${m.markedBy} at ${m.markedAt}: ${m.reason}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function markTwoWeekCompose(pool: Pool, composeId: string, verdict: 'good' | 'bad', reason: string | undefined, by: string | undefined): Promise<string> {
  if (!reason?.trim()) throw new TwoWeekUsageError(`mark-${verdict} needs --reason: the run shows why`);
  await markCompose(pool, { composeId, verdict, reason: reason.trim().slice(0, 1000), by: actor(by) });
  return `${composeId} marked ${verdict} by ${actor(by)}: ${reason.trim()}\n`;
}

export async function blockTwoWeekStream(pool: Pool, config: Pick<Config, 'twoWeek'>, stream: string, block: boolean, reason: string | undefined, by: string | undefined): Promise<string> {
  if (!(stream in config.twoWeek.streams)) throw new TwoWeekUsageError(`no two-week stream ${stream} (configured: ${Object.keys(config.twoWeek.streams).join(', ') || 'none'})`);
  if (block && !reason?.trim()) throw new TwoWeekUsageError('block needs --reason: the alert says why');
  const changed = await setTwoWeekBlock(pool, stream, block ? { reason: reason!.trim().slice(0, 1000), by: actor(by) } : null);
  return block ? `${stream} blocked by ${actor(by)}: ${reason!.trim()}\n` : `${stream} ${changed ? 'unblocked' : 'was not blocked'}\n`;
}

/** Pauses or unpauses the stream's Schedule, with a note saying who and why. */
export async function pauseTwoWeekSchedule(client: Client, stream: string, pause: boolean, reason: string | undefined, by: string | undefined): Promise<string> {
  const handle = client.schedule.getHandle(scheduleIds.twoWeek(stream));
  const note = `${pause ? 'paused' : 'unpaused'} by ${actor(by)}${reason ? `: ${reason}` : ''}`;
  try {
    await (pause ? handle.pause(note) : handle.unpause(note));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new TwoWeekUsageError(`no schedule ${scheduleIds.twoWeek(stream)} (relengotron up makes it from twoWeek.streams)`);
    throw err;
  }
  return `${scheduleIds.twoWeek(stream)} ${note}\n`;
}

/** Starts the stream's release now, through its Schedule (its overlap policy holds). */
export async function triggerTwoWeek(client: Client, stream: string): Promise<string> {
  try {
    await client.schedule.getHandle(scheduleIds.twoWeek(stream)).trigger();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new TwoWeekUsageError(`no schedule ${scheduleIds.twoWeek(stream)} (relengotron up makes it from twoWeek.streams)`);
    throw err;
  }
  return `${scheduleIds.twoWeek(stream)} triggered\n`;
}

/** The stream's running release, the one an approval is for. */
async function runningRelease(client: Client, stream: string): Promise<string | null> {
  // The Schedule appends the scheduled time: `two-week/<stream>-2026-12-08T12:00:00Z`, and nothing else (not another stream whose name starts with this one's).
  const ofStream = (id: string) => id.startsWith(`${scheduleIds.twoWeek(stream)}-`) && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(id.slice(scheduleIds.twoWeek(stream).length + 1));
  for await (const w of client.workflow.list({ query: `WorkflowType = 'twoWeekRelease' AND ExecutionStatus = 'Running'` })) {
    if (ofStream(w.workflowId)) return w.workflowId;
  }
  return null;
}

/** An operator's approval of the compose the stream's running release waits on; its refusal said plainly. */
export async function approveTwoWeek(client: Client, stream: string, composeId: string, comment: string | undefined, by: string | undefined): Promise<string> {
  const workflowId = await runningRelease(client, stream);
  if (!workflowId) throw new TwoWeekUsageError(`no release of ${stream} is running: nothing waits for an approval`);
  try {
    const { approvals, needed } = await client.workflow.getHandle(workflowId).executeUpdate(approveTwoWeekReleaseUpdate, { args: [{ approver: actor(by), composeId, ...(comment ? { comment } : {}) }] });
    return `approved by ${actor(by)}: ${approvals} of ${needed} approvals for ${composeId} (${workflowId})\n`;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof ApplicationFailure && cause.type === APPROVAL_REFUSED) throw new TwoWeekUsageError(`approval refused by ${workflowId}: ${cause.message}`);
    throw new Error(`approving ${composeId} in ${workflowId} failed: ${failureText(err)}`);
  }
}

