/**
 * OSTree maintenance from the CLI and at start: the `ostree-prune` Schedule kept as ostree.prune
 * says, each operation started as its run and followed to its end, and what it did (or, in a dry
 * run, would do) in plain words.
 */
import { WorkflowFailedError, type CalendarSpecDescription, type Client, type ScheduleDescription, type ScheduleOptions, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../common/config.js';
import { durationToMs } from '../common/duration.js';
import { failureText } from '../common/failure-text.js';
import type { Logger } from '../common/logger.js';
import {
  describeAliasOutcome, describeAliasPlan, describeArchiveOutcome, describeArchivePlan, describePromoteOutcome, describePromotePlan, describePruneReport, OSTREE_REFUSALS,
  type AliasOutcome, type AliasPlan, type ArchiveOutcome, type ArchivePlan, type PromoteOutcome, type PromotePlan, type PruneReport,
} from '../common/ostree-maintenance.js';
import { describeRule } from '../common/ostree-policy.js';
import { scheduleIds } from '../common/workflow-ids.js';
import type { OstreeMaintenanceResult } from '../workflows/index.js';
import { describeSchedule, removeSchedule, upsertSchedule } from './schedules.js';
import { ostreePruneScheduleAction } from './start.js';

/** The Schedule as ostree.prune describes it: its cron line, time zone, catch-up window; overlapping runs skipped. */
export function ostreePruneSchedule(config: Pick<Config, 'ostree'>): ScheduleOptions {
  const { schedule, policies } = config.ostree.prune;
  return {
    scheduleId: scheduleIds.ostreePrune,
    spec: { cronExpressions: [schedule.cron], timezone: schedule.timezone },
    action: ostreePruneScheduleAction({ policies }, scheduleIds.ostreePrune),
    policies: {
      // A prune still running when the next is due (a huge repository) is left to finish; the next week's run comes.
      overlap: 'SKIP',
      catchupWindow: durationToMs(schedule.catchupWindow),
      // A failed run (a ref without a policy, a full disk) shows in the runs; next week's is attempted all the same.
      pauseOnFailure: false,
    },
  };
}

export type PruneScheduleSync = 'created' | 'updated' | 'removed' | 'not created';

/**
 * At start: the Schedule made or brought up to date from the configuration. With no policies a
 * run could only refuse, so there is none (one left from an earlier configuration is deleted).
 */
export async function syncOstreePruneSchedule(client: Client, config: Pick<Config, 'ostree'>, log: Logger): Promise<PruneScheduleSync> {
  const { policies, schedule } = config.ostree.prune;
  if (policies.length === 0) {
    const removed = await removeSchedule(client, scheduleIds.ostreePrune);
    log.info({ schedule: scheduleIds.ostreePrune, removed }, `no ostree.prune.policies configured: the ${scheduleIds.ostreePrune} schedule is ${removed ? 'deleted' : 'not created'} (a prune without policies would refuse)`);
    return removed ? 'removed' : 'not created';
  }
  const sync = await upsertSchedule(client, ostreePruneSchedule(config));
  log.info({ schedule: scheduleIds.ostreePrune, cron: schedule.cron, timezone: schedule.timezone, policies: policies.length }, `${scheduleIds.ostreePrune} schedule ${sync}`);
  return sync;
}

/** 1d, 6h, 90m, 45s: the largest unit that divides the duration. */
function durationWords(ms: number): string {
  const unit = ([['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const).find(([, size]) => ms % size === 0 && ms >= size);
  return unit ? `${ms / unit[1]}${unit[0]}` : `${ms}ms`;
}

/** A calendar as the server keeps it (a cron line becomes one), by the fields that are not "every": `hour 3, minute 0, dayOfWeek SUNDAY`. */
function calendarWords(calendar: CalendarSpecDescription): string {
  const everyValue: Partial<Record<keyof CalendarSpecDescription, readonly [unknown, unknown]>> = {
    second: [0, 59], minute: [0, 59], hour: [0, 23], dayOfMonth: [1, 31], month: ['JANUARY', 'DECEMBER'], dayOfWeek: ['SUNDAY', 'SATURDAY'],
  };
  const fields = (['hour', 'minute', 'second', 'dayOfMonth', 'month', 'year', 'dayOfWeek'] as const).flatMap((field) => {
    const ranges = calendar[field] as readonly { start: string | number; end?: string | number; step?: number }[];
    const full = everyValue[field];
    if (ranges.length === 0 || (full && ranges.length === 1 && ranges[0]!.start === full[0] && ranges[0]!.end === full[1] && (ranges[0]!.step ?? 1) === 1)) return [];
    if (field === 'second' && ranges.every((r) => r.start === 0 && (r.end ?? 0) === 0)) return [];
    const text = ranges.map((r) => (r.end === undefined || r.end === r.start ? `${r.start}` : `${r.start}-${r.end}`) + ((r.step ?? 1) > 1 ? `/${r.step}` : '')).join(',');
    return [`${field} ${text}`];
  });
  return fields.join(', ') || 'every second';
}

/** The prune Schedule in words: when, what, paused or not, its next and last runs. */
export function formatPruneSchedule(description: ScheduleDescription | null): string {
  if (!description) return `no ${scheduleIds.ostreePrune} schedule (ostree.prune.policies is empty, or the service has not started since it was set)`;
  const { spec, state, info, policies, action } = description;
  const cron = spec.calendars?.length ? spec.calendars.map(calendarWords).join('; ') : 'no calendar';
  const [input] = (action.args ?? []) as [{ policies?: readonly Parameters<typeof describeRule>[0][] } | undefined];
  const lines = [
    `${description.scheduleId}: ${cron} (${spec.timezone || 'UTC'}); overlapping runs: ${String(policies.overlap).toLowerCase()}; catch-up window: ${durationWords(policies.catchupWindow)}`,
    `  paused: ${state.paused ? `yes${state.note ? ` (${state.note})` : ''}` : 'no'}`,
    `  next runs: ${info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ') || 'none'}`,
    `  recent runs: ${info.recentActions.slice(-3).map((a) => `${a.takenAt.toISOString()} ${a.action.workflow.workflowId}`).join(', ') || 'none'}`,
    '  policies (first match wins):',
    ...(input?.policies ?? []).map((r, i) => `    ${i + 1}. ${r.match} ${describeRule(r)}`),
  ];
  return lines.join('\n');
}

export async function showPruneSchedule(client: Client): Promise<{ text: string; description: ScheduleDescription | null }> {
  const description = await describeSchedule(client, scheduleIds.ostreePrune);
  return { text: formatPruneSchedule(description), description };
}

/** A run's refusal (its own words) or another failure, as one sentence for `relengotron: ...`. */
export class OstreeRefused extends Error {
  override name = 'OstreeRefused';
}

/** Waits for a maintenance run; a refusal becomes OstreeRefused with the run's words, other failures their innermost message. */
export async function resultOf<T>(handle: WorkflowHandle): Promise<T> {
  try {
    return (await handle.result()) as T;
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : null;
    if (cause instanceof ApplicationFailure && cause.type && OSTREE_REFUSALS.includes(cause.type)) throw new OstreeRefused(cause.message);
    throw new Error(`${handle.workflowId} failed: ${failureText(err)}`);
  }
}

export type OstreeResult =
  | { readonly operation: 'promote'; readonly result: OstreeMaintenanceResult<PromotePlan, PromoteOutcome> }
  | { readonly operation: 'alias'; readonly result: OstreeMaintenanceResult<AliasPlan, AliasOutcome> }
  | { readonly operation: 'archive'; readonly result: OstreeMaintenanceResult<ArchivePlan, ArchiveOutcome> }
  | { readonly operation: 'prune'; readonly result: PruneReport };

/** What a run did, or in a dry run would do, in the words the CLI prints. */
export function describeOstreeResult(done: OstreeResult): string {
  const dry = '(dry run: nothing was changed)';
  switch (done.operation) {
    case 'promote':
      return [describePromotePlan(done.result.plan), done.result.outcome ? describePromoteOutcome(done.result.outcome) : dry].join('\n');
    case 'alias':
      return [describeAliasPlan(done.result.plan), done.result.outcome ? describeAliasOutcome(done.result.outcome) : dry].join('\n');
    case 'archive':
      return [describeArchivePlan(done.result.plan), done.result.outcome ? describeArchiveOutcome(done.result.outcome) : dry].join('\n');
    case 'prune':
      return [describePruneReport(done.result), ...(done.result.dryRun ? [dry] : [])].join('\n');
  }
}
