/**
 * Compose testing, Autocloud's job done durably: a finished compose's metadata is read and
 * checked, its cloud images chosen by the configured rules, and each image tested on its
 * provider in a child workflow (`image-test/<compose>/<file>@<provider>`). Results go to the
 * store and the bus (Autocloud's messages, CI messages for the productmd-compose artifact).
 *
 * A newer compose of the same stream may supersede this run (config: cancel the older one):
 * the `supersede` signal cancels the children, whose hosts tear their VMs down, and the jobs
 * end `aborted`.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { ComposeMetadata } from '../activities/compose-server.js';
import type { ComposeTestCounts, ComposeTestJob, ComposeTestPlan, FinishComposeTestResult } from '../activities/results-store.js';
import type { CiResult } from '../common/schemas/ci.js';
import type { ComposeTestStatus as StoredStatus } from '../common/compose-testing.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { parseTunirPlan } from '../common/tunir.js';
import { ciComposeFinished, ciProgressMessage, composeCompleteMessage, composePage, composeProgressMessage, type ComposeRef } from './compose-test-messages.js';
import { imageTest, type ImageTestResult } from './image-test.js';
import { publish } from './messages.js';

const { fetchComposeMetadata } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 minutes',
  // A compose server that is down usually recovers; broken metadata never does (non-retryable).
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'read composeinfo.json and images.json',
});

const { recordCompose, planComposeTest, finishComposeTest, failComposeTest } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  summary: 'record the compose test in the results store',
});

const { supersedeOlderComposeTests } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  summary: 'ask older composes of this stream to stop testing',
});

export interface ComposeTestInput {
  readonly composeId: string;
  /** The compose URL, ending in `/compose`. */
  readonly location: string;
  readonly pungiStatus: string;
}

export type ComposeTestStage = 'fetching-metadata' | 'planning' | 'testing' | 'reporting' | 'done' | 'aborted' | 'failed';

export interface ComposeTestStatus {
  readonly composeId: string;
  readonly stage: ComposeTestStage;
  readonly release: string | null;
  readonly jobs: number;
  readonly finished: { readonly success: number; readonly failed: number; readonly error: number; readonly aborted: number };
  readonly supersededBy: string | null;
  readonly reason: string | null;
}

export interface ComposeTestResult extends Omit<FinishComposeTestResult, 'jobs'> {
  readonly composeId: string;
  readonly status: Extract<StoredStatus, 'complete' | 'aborted'>;
  readonly supersededBy: string | null;
  readonly jobs: readonly ComposeJobOutcome[];
}

/** A job's outcome with the image file and provider it was for. */
export interface ComposeJobOutcome extends ImageTestResult {
  readonly fileName: string;
  readonly provider: string;
}

export const composeTestStatusQuery = defineQuery<ComposeTestStatus>('status');
/** A newer compose of the same stream finished: stop, abort the jobs, tear the VMs down. */
export const supersedeSignal = defineSignal<[{ by: string }]>('supersede');

/** One attempt's upper bound: an hour to fetch, then boot, every command, sleep and poll at their limits. */
export function attemptTimeoutMs(settings: ComposeTestJob['settings']): number {
  let total = 60 * 60_000 + settings.bootTimeoutMs;
  try {
    for (const step of parseTunirPlan(settings.plan)) {
      if (step.kind === 'command') total += settings.commandTimeoutMs;
      else if (step.kind === 'sleep') total += step.seconds * 1000;
      else total += settings.pollAttempts * settings.pollIntervalMs + 30_000;
    }
  } catch {
    // The host refuses the plan with its line number; the bound does not matter then.
  }
  return total;
}

/** A failed image fails the compose; a job that could not run (while others passed) asks for a look. */
function ciResultOf(jobs: number, counts: ComposeTestCounts): CiResult {
  if (jobs === 0) return 'not_applicable';
  if (counts.failed > 0) return 'failed';
  return counts.errored > 0 ? 'needs_inspection' : 'passed';
}

function failureReason(err: unknown): string {
  const root = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return root instanceof Error ? root.message : String(err);
}

export async function composeTest(input: ComposeTestInput): Promise<ComposeTestResult> {
  const { workflowId } = workflowInfo();
  let status: ComposeTestStatus = {
    composeId: input.composeId,
    stage: 'fetching-metadata',
    release: null,
    jobs: 0,
    finished: { success: 0, failed: 0, error: 0, aborted: 0 },
    supersededBy: null,
    reason: null,
  };
  setHandler(composeTestStatusQuery, () => status, {
    description: 'Stage, release, jobs started and finished by status, and who superseded this run.',
  });
  let dashboardUrl: string | null = null;
  const enter = (next: Partial<ComposeTestStatus>, details: string) => {
    status = { ...status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.stage }]);
    const link = dashboardUrl ? `\n\n[results](${composePage(dashboardUrl, input.composeId)})` : '';
    setCurrentDetails(`**${status.stage}**: ${details}${link}`);
  };
  setHandler(
    supersedeSignal,
    ({ by }) => {
      if (!status.supersededBy) status = { ...status, supersededBy: by };
    },
    { description: 'Sent by the run of a newer compose of the same stream: cancel the jobs and end as aborted.' },
  );

  enter({}, `reading metadata under ${input.location}`);
  let metadata: ComposeMetadata;
  try {
    metadata = await fetchComposeMetadata({ location: input.location, expectedComposeId: input.composeId });
  } catch (err) {
    const reason = failureReason(err);
    const { dashboardUrl: url } = await failComposeTest({ composeId: input.composeId, location: input.location, workflowId, reason });
    dashboardUrl = url;
    // The compose type is in its ID when the metadata cannot say (Fedora-Rawhide-20261123.n.0 → nightly).
    const composeType = /\.n\.\d+$/.test(input.composeId) ? 'nightly' : /\.t\.\d+$/.test(input.composeId) ? 'test' : /\.ci\.\d+$/.test(input.composeId) ? 'ci' : 'production';
    const ref: ComposeRef = { composeId: input.composeId, composeType, workflowId, dashboardUrl: url };
    await publish(ciComposeFinished(ref, [], { kind: 'infrastructure-error', reason }));
    enter({ stage: 'failed', reason }, reason);
    throw ApplicationFailure.nonRetryable(`compose ${input.composeId}: ${reason}`, 'ComposeTestFailed');
  }

  enter({ stage: 'planning', release: `${metadata.release.short}-${metadata.release.version}` }, `${metadata.images.length} images; choosing what to test`);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.release, value: metadata.release.version }]);
  await recordCompose({ metadata, location: input.location, pungiStatus: input.pungiStatus });
  const plan: ComposeTestPlan = await planComposeTest({ metadata, location: input.location, workflowId });
  dashboardUrl = plan.dashboardUrl;
  const ref: ComposeRef = { composeId: input.composeId, composeType: plan.compose.type, workflowId, dashboardUrl: plan.dashboardUrl };
  for (const skipped of plan.skipped) log.warn('image not tested', skipped);

  if (plan.stream && plan.policy.whenNewerComposeFinishes === 'cancel-older') {
    const asked = await supersedeOlderComposeTests({ composeId: input.composeId, stream: plan.stream });
    if (asked.length > 0) log.info('superseding older composes', { older: asked });
  }

  await publish(composeProgressMessage(plan, 'queued'));
  await publish(ciProgressMessage(ref, 'queued'));
  enter({ stage: 'testing', jobs: plan.jobs.length }, `${plan.jobs.length} jobs: ${plan.jobs.map((j) => `${j.image.fileName}@${j.provider}`).join(', ') || 'none'}`);

  const results: ComposeJobOutcome[] = [];
  const testing = new CancellationScope();
  const children = testing.run(() =>
    Promise.allSettled(
      plan.jobs.map(async (job) => {
        const result = await executeChild(imageTest, {
          workflowId: job.workflowId,
          taskQueue: job.provider === 'vbox' ? TASK_QUEUES.imageVbox : TASK_QUEUES.imageLibvirt,
          args: [{ composeId: input.composeId, release: plan.release, job, policy: plan.policy, attemptTimeoutMs: attemptTimeoutMs(job.settings) }],
          parentClosePolicy: 'REQUEST_CANCEL',
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.composeId, value: input.composeId },
            { key: SEARCH_ATTRIBUTES.release, value: plan.release },
            { key: SEARCH_ATTRIBUTES.stage, value: 'queued' },
          ],
          staticSummary: `Test ${job.image.fileName} on ${job.provider} (job ${job.jobId})`,
          staticDetails: `Compose ${input.composeId}, ${job.variant}/${job.arch}, ${job.image.type}. Plan:\n\n\`\`\`\n${job.settings.plan}\n\`\`\``,
        });
        results.push({ ...result, fileName: job.image.fileName, provider: job.provider });
        const key = result.status === 'success' ? 'success' : result.status;
        status = { ...status, finished: { ...status.finished, [key]: status.finished[key] + 1 } };
        return result;
      }),
    ),
  );
  if (plan.jobs.length > 0) await publish(composeProgressMessage(plan, 'running'));
  await publish(ciProgressMessage(ref, 'running'));

  let cancelledBy: string | null = null;
  let operatorCancellation: Error | null = null;
  try {
    await Promise.race([children, condition(() => status.supersededBy !== null)]);
    if (status.supersededBy) {
      cancelledBy = `superseded by ${status.supersededBy}`;
      enter({ stage: 'aborted', reason: cancelledBy }, `${cancelledBy}: cancelling ${plan.jobs.length - results.length} jobs`);
      testing.cancel();
      await children;
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelledBy = 'cancelled by an operator';
    operatorCancellation = err as Error;
  }

  // Whatever happened above, the compose's record and its final messages must be written.
  return CancellationScope.nonCancellable(async () => {
    if (cancelledBy && status.stage !== 'aborted') enter({ stage: 'aborted', reason: cancelledBy }, cancelledBy);
    for (const settled of await children) {
      if (settled.status === 'rejected' && !(settled.reason instanceof ChildWorkflowFailure && isCancellation(settled.reason.cause))) {
        log.warn('an image test run failed', { error: failureReason(settled.reason) });
      }
    }
    if (!cancelledBy) enter({ stage: 'reporting' }, `${results.length} jobs finished`);
    const finished = await finishComposeTest({
      composeId: input.composeId,
      status: cancelledBy ? 'aborted' : 'complete',
      reason: cancelledBy,
      supersededBy: status.supersededBy,
    });
    await publish(composeCompleteMessage(plan, finished, finished.jobs));
    const ran = finished.passed + finished.failed;
    const outcome =
      cancelledBy !== null
        ? { kind: 'infrastructure-error' as const, reason: `${cancelledBy}; ${finished.aborted} of ${plan.jobs.length} jobs aborted` }
        : ran === 0 && plan.jobs.length > 0
          ? { kind: 'infrastructure-error' as const, reason: `none of the ${plan.jobs.length} jobs could run (${finished.errored} errors)` }
          : { kind: 'result' as const, result: ciResultOf(plan.jobs.length, finished) };
    await publish(ciComposeFinished(ref, plan.jobs, outcome));
    const summary = `${finished.passed} passed, ${finished.failed} failed, ${finished.errored} errors, ${finished.aborted} aborted`;
    if (!cancelledBy) enter({ stage: 'done' }, summary);
    else enter({}, `${cancelledBy}; ${summary}`);
    // An operator's cancel ends the run as cancelled; a newer compose's ends it as a normal outcome.
    if (operatorCancellation) throw operatorCancellation;
    return {
      composeId: input.composeId,
      status: cancelledBy ? 'aborted' : 'complete',
      supersededBy: status.supersededBy,
      passed: finished.passed,
      failed: finished.failed,
      errored: finished.errored,
      aborted: finished.aborted,
      jobs: results,
    };
  });
}
