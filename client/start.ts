/**
 * Typed start functions: the one place that knows a workflow's ID, task queue, search
 * attributes, summary and ID policies. The bus listener and the CLI both start runs through here.
 */
import type { Client, WorkflowHandle, WorkflowStartOptions } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, type SearchAttributePair, type Workflow } from '@temporalio/common';
import { MANUAL_TRIGGER, SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { compactTimestamp, scheduleIds, workflowIds } from '../common/workflow-ids.js';
import type { SignalDefinition } from '@temporalio/common';
import type { Config } from '../common/config.js';
import { durationToMs } from '../common/duration.js';
import { bodhiPush, composeTest, discoverCompose, gateBuild, push, releaseBranch, releaseEol, type ReleaseBranchInput, type ReleaseEolInput, type BodhiPushInput, type ComposeTestInput, type GateBuildInput, type PushInput, type PushSettings } from '../workflows/index.js';
import { ostreeAlias, ostreeArchive, ostreePromote, ostreePrune, type OstreeAliasInput, type OstreeArchiveInput, type OstreePromoteInput, type OstreePruneInput } from '../workflows/index.js';
import type { ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { describeRule } from '../common/ostree-policy.js';
import type { DiscoverComposeInput } from '../workflows/index.js';
import { twoWeekRelease, type TwoWeekInput, type TwoWeekStreamSettings } from '../workflows/index.js';

/** What caused a run: a bus message, or a person (msgId `manual`). */
export interface Trigger {
  readonly msgId: string;
  readonly topic: string;
}

export const manualTrigger = (what: string): Trigger => ({ msgId: MANUAL_TRIGGER, topic: `cli.${what}` });

/** A run a Temporal Schedule started: `schedule` as msg_id, the schedule's ID in the topic. */
export const scheduleTrigger = (scheduleId: string): Trigger => ({ msgId: 'schedule', topic: `schedule.${scheduleId}` });

export interface StartResult<T extends WorkflowHandle = WorkflowHandle> {
  readonly handle: T;
  /**
   * Start: false when a run with this ID already existed (running, or finished and not to be
   * repeated). Signal-with-start: false when the run had already finished, so the signal went nowhere.
   */
  readonly started: boolean;
}

// Policy for runs that must happen once per domain event:
// - conflict USE_EXISTING: a duplicate delivery while the run is going joins it instead of failing;
// - reuse REJECT_DUPLICATE when a message starts it: a replayed or re-driven message (the listener
//   crashed between starting the run and marking its inbox row) never starts a second run, even
//   after the first one failed;
// - reuse ALLOW_DUPLICATE_FAILED_ONLY when a person starts it: a failed run can be started again
//   by hand once its cause is fixed, a completed one cannot.
function oncePerEvent(trigger: Trigger) {
  return {
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: trigger.msgId === MANUAL_TRIGGER ? 'ALLOW_DUPLICATE_FAILED_ONLY' : 'REJECT_DUPLICATE',
  } as const;
}

async function startOnce<T extends WorkflowHandle>(
  client: Client,
  workflowId: string,
  start: () => Promise<T>,
): Promise<StartResult<T>> {
  try {
    const handle = await start();
    return { handle, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle(workflowId) as T, started: false };
    }
    throw err;
  }
}

/**
 * Starts a run on the `releng` queue once per domain event, with its trigger recorded in search
 * attributes and details; the stage starts as `queued`.
 */
async function startForEvent<W extends Workflow>(
  client: Client,
  workflow: W,
  options: {
    readonly workflowId: string;
    readonly args: Parameters<W>;
    readonly trigger: Trigger;
    readonly attributes: readonly SearchAttributePair[];
    readonly summary: string;
    readonly details: string;
    /**
     * The run changes nothing that is already as it wants it (OSTree maintenance), so a finished
     * run may be started again under its ID: promoting a ref back to a commit it was promoted to before.
     */
    readonly rerunnable?: boolean;
  },
): Promise<StartResult<WorkflowHandle<W>>> {
  const { workflowId, trigger } = options;
  // The SDK's option type is conditional on the workflow's arity, which a generic W leaves open.
  const startOptions = {
    ...oncePerEvent(trigger),
    ...(options.rerunnable ? { workflowIdReusePolicy: 'ALLOW_DUPLICATE' } : {}),
    workflowId,
    taskQueue: TASK_QUEUES.releng,
    args: options.args,
    ...runMetadata(options.attributes, trigger, options.summary, options.details),
  } as unknown as WorkflowStartOptions<W>;
  return startOnce(client, workflowId, () => client.workflow.start(workflow, startOptions));
}

/** What every run carries for the Web UI and `runs list`: search attributes (stage `queued`, trigger), summary, details. */
function runMetadata(attributes: readonly SearchAttributePair[], trigger: Trigger, summary: string, details: string) {
  return {
    typedSearchAttributes: [
      ...attributes,
      { key: SEARCH_ATTRIBUTES.stage, value: 'queued' },
      { key: SEARCH_ATTRIBUTES.triggerMsgId, value: trigger.msgId },
      { key: SEARCH_ATTRIBUTES.triggerTopic, value: trigger.topic },
    ],
    staticSummary: summary,
    staticDetails: `${details}\n\nTrigger: \`${trigger.topic}\` message \`${trigger.msgId}\`.`,
  };
}

export function startComposeDiscovery(client: Client, input: DiscoverComposeInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof discoverCompose>>> {
  return startForEvent(client, discoverCompose, {
    workflowId: workflowIds.composeDiscovery(input.composeId),
    args: [input],
    trigger,
    attributes: [{ key: SEARCH_ATTRIBUTES.composeId, value: input.composeId }],
    summary: `Discover compose ${input.composeId} (${input.pungiStatus})`,
    details:
      `Reads \`composeinfo.json\` and \`images.json\` under ${input.location}/metadata, checks them ` +
      `against the productmd schema and records the compose and its images in the results store.`,
  });
}

export function startComposeTest(client: Client, input: ComposeTestInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof composeTest>>> {
  return startForEvent(client, composeTest, {
    workflowId: workflowIds.composeTest(input.composeId),
    args: [input],
    trigger,
    attributes: [{ key: SEARCH_ATTRIBUTES.composeId, value: input.composeId }],
    summary: `Test compose ${input.composeId} (${input.pungiStatus})`,
    details:
      `Reads the compose's metadata under ${input.location}/metadata, chooses its cloud images by the ` +
      `configured rules (composeTesting.rules) and tests each on its provider in a child run ` +
      `(\`image-test/...\`): download with checksum, boot with a NoCloud seed, the Tunir plan over SSH. ` +
      `Results: the results store, the dashboard, \`autocloud.*\` and \`ci.productmd-compose.test.*\` messages. ` +
      `A newer compose of the same stream may supersede it (signal \`supersede\`).`,
  });
}

/** How pushes are carried out, from the configuration. */
export function pushSettings(config: Pick<Config, 'push'>): PushSettings {
  return {
    ostreeRef: config.push.ostreeRef,
    ostreeTrees: config.push.ostreeTrees,
    arches: config.push.arches,
    sign: Boolean(config.push.signing),
    operatorReminderMs: durationToMs(config.push.operatorReminder),
    imageBuild: config.push.imageBuild,
    testPolicy: config.push.testPolicy.required,
    mashBatch: config.push.mashBatch,
  };
}

/** A Bodhi push message: one parent run, a child push per release and request. */
export function startBodhiPush(client: Client, input: BodhiPushInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof bodhiPush>>> {
  return startForEvent(client, bodhiPush, {
    workflowId: workflowIds.bodhiPush(input.pushId),
    args: [input],
    trigger,
    attributes: [],
    summary: `Bodhi push ${input.pushId}: ${input.composes.length} compose(s)`,
    details:
      `Starts a push per release and request Bodhi named (rpm content): ` +
      `${input.composes.map((c) => `release ${c.release_id} ${c.request} (${c.content_type})`).join(', ')}.`,
  });
}

/** A push of one release's updates; its ID is the push's (`push/F29-stable/20261123T120000Z`). */
export function startPush(client: Client, input: PushInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof push>>> {
  return startForEvent(client, push, {
    workflowId: workflowIds.push(input.release, input.request, input.pushId),
    args: [input],
    trigger,
    attributes: [{ key: SEARCH_ATTRIBUTES.release, value: input.release }],
    summary: `Push ${input.release} ${input.request} (${input.pushId})`,
    details:
      `Takes the updates Bodhi has requested for ${input.request} in ${input.release}, moves their builds in Koji, asks PDC ` +
      `which artifacts contain them and composes, signs (${input.sign ? 'gpg' : 'no key configured: unsigned'}) and syncs those ` +
      `in child runs, then publishes \`releng-o-tron.push.complete\`.`,
  });
}

/** Branching a release from rawhide (`release-branch/F45`); once per release, again only after a failed run. */
export function startReleaseBranch(client: Client, input: ReleaseBranchInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof releaseBranch>>> {
  return startForEvent(client, releaseBranch, {
    workflowId: workflowIds.releaseBranch(input.release),
    args: [input],
    trigger,
    attributes: [{ key: SEARCH_ATTRIBUTES.release, value: input.release }],
    summary: `Branch ${input.release} from rawhide`,
    details:
      `Plans from Koji and Bodhi, then snapshots rawhide for the next release, creates the tags, inheritance and targets in Koji, ` +
      `edits ${input.release} and creates the next release in Bodhi, and publishes \`releng-o-tron.release.branched\`. ` +
      'A failed step waits for an operator; an abort undoes what was done.',
  });
}

/** A release's end of life (`release-eol/F43`); once per release, again only after a failed run. */
export function startReleaseEol(client: Client, input: ReleaseEolInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof releaseEol>>> {
  return startForEvent(client, releaseEol, {
    workflowId: workflowIds.releaseEol(input.release),
    args: [input],
    trigger,
    attributes: [{ key: SEARCH_ATTRIBUTES.release, value: input.release }],
    summary: `End of life of ${input.release}`,
    details:
      `Deletes ${input.release}'s build targets and locks its tags in Koji, archives it in Bodhi, marks it inactive in PDC, moves its mirror trees ` +
      'to the archive and prunes its OSTree refs to their last commit, then publishes `releng-o-tron.release.eol`. A failed step waits for an operator; an abort undoes what can be.',
  });
}

/**
 * Delivers a gate's signal, starting the gate if it is not running yet: the tag message and the
 * results may arrive in any order and each must reach the same run. Reuse REJECT_DUPLICATE for
 * messages: a late or replayed result for a gate that has already decided starts nothing (the
 * build has moved on); by hand, a failed gate may be opened again.
 */
export async function signalGate<T>(
  client: Client,
  input: GateBuildInput,
  signal: SignalDefinition<[T]>,
  signalArg: T,
  trigger: Trigger,
): Promise<StartResult<WorkflowHandle<typeof gateBuild>>> {
  const workflowId = workflowIds.gateBuild(input.lane.gateTag, input.nvr);
  return startOnce(client, workflowId, () =>
    client.workflow.signalWithStart(gateBuild, {
      workflowIdReusePolicy: oncePerEvent(trigger).workflowIdReusePolicy,
      workflowId,
      taskQueue: TASK_QUEUES.releng,
      args: [input],
      // The SDK's option type is conditional on the signal's arity, which a generic T leaves open.
      signal: signal as SignalDefinition<[unknown]>,
      signalArgs: [signalArg],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.buildNvr, value: input.nvr },
        { key: SEARCH_ATTRIBUTES.release, value: input.lane.name },
        { key: SEARCH_ATTRIBUTES.stage, value: 'queued' },
        { key: SEARCH_ATTRIBUTES.triggerMsgId, value: trigger.msgId },
        { key: SEARCH_ATTRIBUTES.triggerTopic, value: trigger.topic },
      ],
      staticSummary: `Gate ${input.nvr} in ${input.lane.gateTag}`,
      staticDetails:
        `Waits for the build's required results (${input.lane.requiredTests.join(', ') || 'none'}` +
        `${input.lane.greenwaveContext ? `, or Greenwave in ${input.lane.greenwaveContext}` : ''}) for up to ${input.lane.resultTimeout}, ` +
        `then moves it to \`${input.lane.releaseTag}\` or \`${input.lane.quarantineTag}\` and tells the packager.\n\n` +
        `Opened by: \`${trigger.topic}\` message \`${trigger.msgId}\`.`,
    }),
  );
}

const dryRunWords = (dryRun: boolean | undefined) => (dryRun ? 'Dry run: ' : '');

/** Moving an OSTree ref to a commit (`ostree/promote/<ref>@<commit>`). */
export function startOstreePromote(client: Client, input: OstreePromoteInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof ostreePromote>>> {
  return startForEvent(client, ostreePromote, {
    workflowId: workflowIds.ostreePromote(input.ref, input.commit, input.dryRun ?? false),
    args: [input],
    trigger,
    attributes: [],
    rerunnable: true,
    summary: `${dryRunWords(input.dryRun)}promote ${input.ref} to ${input.commit.slice(0, 12)}${input.force ? ' (forced)' : ''}`,
    details:
      `Moves the OSTree ref \`${input.ref}\` to commit \`${input.commit}\` (\`ostree reset\`), ` +
      `${input.force ? 'even to a commit that does not descend from it (forced)' : 'only forward: the commit must descend from the ref\'s'}, then regenerates the summary (signed when the worker has a key).`,
  });
}

/** Making an OSTree alias (`ostree/alias/<alias>`). */
export function startOstreeAlias(client: Client, input: OstreeAliasInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof ostreeAlias>>> {
  return startForEvent(client, ostreeAlias, {
    workflowId: workflowIds.ostreeAlias(input.alias, input.dryRun ?? false),
    args: [input],
    trigger,
    attributes: [],
    rerunnable: true,
    summary: `${dryRunWords(input.dryRun)}alias ${input.alias} -> ${input.target}`,
    details: `Creates \`${input.alias}\` as an alias of \`${input.target}\` (\`ostree refs --alias --create\`), refused over a real ref or another alias, then regenerates the summary.`,
  });
}

/** Archiving a release's OSTree refs (`ostree/archive/fedora/29`). */
export function startOstreeArchive(client: Client, input: OstreeArchiveInput, trigger: Trigger): Promise<StartResult<WorkflowHandle<typeof ostreeArchive>>> {
  return startForEvent(client, ostreeArchive, {
    workflowId: workflowIds.ostreeArchive(input.prefix, input.dryRun ?? false),
    args: [input],
    trigger,
    attributes: [],
    rerunnable: true,
    summary: `${dryRunWords(input.dryRun)}archive the OSTree refs under ${input.prefix}`,
    details:
      `Copies every ref under \`${input.prefix}\` with its whole history into the archive repository (\`ostree pull-local --depth=-1 --untrusted\`), ` +
      'then runs `ostree fsck` there, compares every ref\'s commit and history and verifies every signed commit\'s signature; the archive\'s summary is regenerated.',
  });
}

function pruneDetails(input: OstreePruneInput): string {
  const rules = input.policies.map((r, i) => `${i + 1}. \`${r.match}\` ${describeRule(r)}`).join('\n');
  return `Prunes the OSTree repository by per-ref policy, first match wins (a ref with none refuses the run):\n\n${rules || '(no policies)'}\n\nReports per ref the commits kept and removed, the objects deleted and the bytes freed.`;
}

/** Pruning now, by hand (`ostree/prune/20261206T030000Z`). */
export function startOstreePrune(client: Client, input: OstreePruneInput, trigger: Trigger, startedAt: Date = new Date()): Promise<StartResult<WorkflowHandle<typeof ostreePrune>>> {
  return startForEvent(client, ostreePrune, {
    workflowId: workflowIds.ostreePrune(compactTimestamp(startedAt), input.dryRun ?? false),
    args: [input],
    trigger,
    attributes: [],
    summary: `${dryRunWords(input.dryRun)}prune the OSTree repository by policy`,
    details: pruneDetails(input),
  });
}

/** The prune as a Schedule starts it (its ID gets the scheduled time appended by the server). */
export function ostreePruneScheduleAction(input: OstreePruneInput, scheduleId: string): ScheduleOptionsStartWorkflowAction<typeof ostreePrune> {
  return {
    type: 'startWorkflow',
    workflowType: ostreePrune,
    workflowId: workflowIds.ostreeScheduledPrune,
    taskQueue: TASK_QUEUES.releng,
    args: [input],
    ...runMetadata([], scheduleTrigger(scheduleId), 'Prune the OSTree repository by policy (scheduled)', pruneDetails(input)),
  };
}

/** A stream's two-week settings from config (`twoWeek.streams.<stream>`); signing when push.signing has a key. */
export function twoWeekSettings(config: Pick<Config, 'twoWeek' | 'push'>, stream: string): TwoWeekStreamSettings {
  const s = config.twoWeek.streams[stream];
  if (!s) throw new Error(`no two-week stream ${stream} in twoWeek.streams (configured: ${Object.keys(config.twoWeek.streams).join(', ') || 'none'})`);
  return {
    composeStream: s.composeStream,
    minPassed: s.minPassed,
    maxAgeDays: Math.floor(durationToMs(s.maxAge) / 86_400_000),
    stableDir: s.stableDir,
    sign: Boolean(config.push.signing),
    approval: s.approval ? { approvers: s.approval.approvers, windowMs: durationToMs(s.approval.window) } : null,
    ostree: s.ostree ? { refs: s.ostree.refs.map((r) => ({ ...r })) } : null,
  };
}

/** A stream's release as its Schedule starts it (`two-week/<stream>-<scheduled time>`). */
export function twoWeekScheduleAction(input: TwoWeekInput): ScheduleOptionsStartWorkflowAction<typeof twoWeekRelease> {
  const { settings } = input;
  return {
    type: 'startWorkflow',
    workflowType: twoWeekRelease,
    workflowId: workflowIds.twoWeek(input.stream),
    taskQueue: TASK_QUEUES.releng,
    args: [input],
    ...runMetadata(
      [],
      scheduleTrigger(scheduleIds.twoWeek(input.stream)),
      `Two-week release of ${input.stream}`,
      `Releases the newest compose of \`${settings.composeStream}\` whose compose test passed (${settings.minPassed}+ jobs, none failed), minus composes marked bad, plus those marked good, ` +
        `into \`${settings.stableDir}/<compose id>\`${settings.ostree ? `, with ${settings.ostree.refs.map((r) => r.stable).join(', ')}` : ''}` +
        `${settings.approval ? `, after ${settings.approval.approvers} approvals or ${Math.round(settings.approval.windowMs / 60_000)} minutes` : ''}. ` +
        `Alerts when nothing newer than ${settings.maxAgeDays} days is released.`,
    ),
  };
}
