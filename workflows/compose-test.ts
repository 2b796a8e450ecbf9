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
  executeChild,
  isCancellation,
  log,
  patched,
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
import { providerQueue, TASK_QUEUES } from '../common/task-queues.js';
import { parseTunirPlan } from '../common/tunir.js';
import { composeTestStatusQuery, supersedeSignal, type ComposeTestStatus } from './api/compose-test.js';
import { waitingForQuery } from './api/waiting.js';
import { ciComposeFinished, ciProgressMessage, composeCompleteMessage, composePage, composeProgressMessage, type ComposeRef } from './compose-test-messages.js';
import { imageTest, type ImageTestResult } from './image-test.js';
import { publish } from './messages.js';
import { PATCHES } from './patches.js';

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

/** The one state object of a compose test: its input, what `status` shows, and the dashboard link once known. */
class ComposeTestRun {
  readonly workflowId = workflowInfo().workflowId;
  status: ComposeTestStatus;
  dashboardUrl: string | null = null;

  constructor(readonly input: ComposeTestInput) {
    this.status = {
      composeId: input.composeId, stage: 'fetching-metadata', release: null, jobs: 0,
      finished: { success: 0, failed: 0, error: 0, aborted: 0 }, supersededBy: null, reason: null,
    };
    setHandler(composeTestStatusQuery, () => this.status, {
      description: 'Stage, release, jobs started and finished by status, and who superseded this run.',
    });
    setHandler(waitingForQuery, () => {
      if (this.status.stage !== 'testing') return [];
      const done = Object.values(this.status.finished).reduce((a, b) => a + b, 0);
      return [{ for: `${this.status.jobs - done} of ${this.status.jobs} image tests (child runs image-test/${input.composeId}/...)`, since: null, until: null, answer: null }];
    }, { description: 'The image tests still running.' });
    setHandler(
      supersedeSignal,
      ({ by }) => {
        if (!this.status.supersededBy) this.status = { ...this.status, supersededBy: by };
      },
      { description: 'Sent by the run of a newer compose of the same stream: cancel the jobs and end as aborted.' },
    );
  }

  enter(next: Partial<ComposeTestStatus>, details: string): void {
    this.status = { ...this.status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: this.status.stage }]);
    const link = this.dashboardUrl ? `\n\n[results](${composePage(this.dashboardUrl, this.input.composeId)})` : '';
    setCurrentDetails(`**${this.status.stage}**: ${details}${link}`);
  }

  finishedJob(result: ImageTestResult): void {
    const key = result.status === 'success' ? 'success' : result.status;
    this.status = { ...this.status, finished: { ...this.status.finished, [key]: this.status.finished[key] + 1 } };
  }
}

/**
 * Autocloud's job, step by step: read the metadata (a compose that cannot be read fails the run,
 * said on the bus); plan the jobs; test each image in a child run until all end or a newer compose
 * supersedes this one; report, whatever happened.
 */
export async function composeTest(input: ComposeTestInput): Promise<ComposeTestResult> {
  const run = new ComposeTestRun(input);
  const metadata = await readMetadata(run);
  const { plan, ref } = await planJobs(run, metadata);
  const testing = await startJobs(run, plan, ref);
  const ended = await awaitJobs(run, plan, testing);
  // Whatever happened above, the compose's record and its final messages must be written.
  return CancellationScope.nonCancellable(() => report(run, plan, ref, testing, ended));
}

/** Step 1: composeinfo.json and images.json, checked; a compose that cannot be read fails the run with the reason, on the bus too. */
async function readMetadata(run: ComposeTestRun): Promise<ComposeMetadata> {
  const { input, workflowId } = run;
  run.enter({}, `reading metadata under ${input.location}`);
  try {
    return await fetchComposeMetadata({ location: input.location, expectedComposeId: input.composeId });
  } catch (err) {
    const reason = failureReason(err);
    const { dashboardUrl: url } = await failComposeTest({ composeId: input.composeId, location: input.location, workflowId, reason });
    run.dashboardUrl = url;
    // The compose type is in its ID when the metadata cannot say (Fedora-Rawhide-20261123.n.0 → nightly).
    const composeType = /\.n\.\d+$/.test(input.composeId) ? 'nightly' : /\.t\.\d+$/.test(input.composeId) ? 'test' : /\.ci\.\d+$/.test(input.composeId) ? 'ci' : 'production';
    const ref: ComposeRef = { composeId: input.composeId, composeType, workflowId, dashboardUrl: url };
    await publish(ciComposeFinished(ref, [], { kind: 'infrastructure-error', reason }));
    run.enter({ stage: 'failed', reason }, reason);
    throw ApplicationFailure.nonRetryable(`compose ${input.composeId}: ${reason}`, 'ComposeTestFailed');
  }
}

/** Step 2: the compose recorded, its images chosen by the rules, older composes of the stream asked to stop. */
async function planJobs(run: ComposeTestRun, metadata: ComposeMetadata): Promise<{ plan: ComposeTestPlan; ref: ComposeRef }> {
  const { input, workflowId } = run;
  run.enter({ stage: 'planning', release: `${metadata.release.short}-${metadata.release.version}` }, `${metadata.images.length} images; choosing what to test`);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.release, value: metadata.release.version }]);
  await recordCompose({ metadata, location: input.location, pungiStatus: input.pungiStatus });
  const plan: ComposeTestPlan = await planComposeTest({ metadata, location: input.location, workflowId });
  run.dashboardUrl = plan.dashboardUrl;
  const ref: ComposeRef = { composeId: input.composeId, composeType: plan.compose.type, workflowId, dashboardUrl: plan.dashboardUrl };
  for (const skipped of plan.skipped) log.warn('image not tested', skipped);
  if (plan.stream && plan.policy.whenNewerComposeFinishes === 'cancel-older') {
    const asked = await supersedeOlderComposeTests({ composeId: input.composeId, stream: plan.stream });
    if (asked.length > 0) log.info('superseding older composes', { older: asked });
  }
  return { plan, ref };
}

interface Testing {
  readonly scope: CancellationScope;
  readonly children: Promise<PromiseSettledResult<ImageTestResult>[]>;
  readonly results: ComposeJobOutcome[];
}

/** Step 3: each job in its own child run, all at once, cancellable together. */
async function startJobs(run: ComposeTestRun, plan: ComposeTestPlan, ref: ComposeRef): Promise<Testing> {
  const { input } = run;
  await publish(composeProgressMessage(plan, 'queued'));
  await publish(ciProgressMessage(ref, 'queued'));
  run.enter({ stage: 'testing', jobs: plan.jobs.length }, `${plan.jobs.length} jobs: ${plan.jobs.map((j) => `${j.image.fileName}@${j.provider}`).join(', ') || 'none'}`);

  const results: ComposeJobOutcome[] = [];
  const scope = new CancellationScope();
  const children = scope.run(() =>
    Promise.allSettled(
      plan.jobs.map(async (job) => {
        const result = await executeChild(imageTest, {
          workflowId: job.workflowId,
          // Runs started before the patch put the whole child on the provider's queue.
          taskQueue: patched(PATCHES.imageTestOnRelengQueue) ? TASK_QUEUES.releng : providerQueue(job.provider),
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
        run.finishedJob(result);
        return result;
      }),
    ),
  );
  if (plan.jobs.length > 0) await publish(composeProgressMessage(plan, 'running'));
  await publish(ciProgressMessage(ref, 'running'));
  return { scope, children, results };
}

/** How the jobs ended: all of them, or cancelled by a newer compose or an operator. */
interface Ended {
  readonly cancelledBy: string | null;
  readonly operatorCancellation: Error | null;
}

/** Step 4: wait for every job, or for a newer compose to supersede this one (then the jobs are cancelled and their VMs torn down). */
async function awaitJobs(run: ComposeTestRun, plan: ComposeTestPlan, testing: Testing): Promise<Ended> {
  try {
    await Promise.race([testing.children, condition(() => run.status.supersededBy !== null)]);
    if (run.status.supersededBy) {
      const cancelledBy = `superseded by ${run.status.supersededBy}`;
      run.enter({ stage: 'aborted', reason: cancelledBy }, `${cancelledBy}: cancelling ${plan.jobs.length - testing.results.length} jobs`);
      testing.scope.cancel();
      await testing.children;
      return { cancelledBy, operatorCancellation: null };
    }
    return { cancelledBy: null, operatorCancellation: null };
  } catch (err) {
    if (!isCancellation(err)) throw err;
    return { cancelledBy: 'cancelled by an operator', operatorCancellation: err as Error };
  }
}

/** Step 5: the compose's record finished, Autocloud's and the CI messages sent, the result returned. */
async function report(run: ComposeTestRun, plan: ComposeTestPlan, ref: ComposeRef, testing: Testing, ended: Ended): Promise<ComposeTestResult> {
  const { input } = run;
  const { cancelledBy, operatorCancellation } = ended;
  if (cancelledBy && run.status.stage !== 'aborted') run.enter({ stage: 'aborted', reason: cancelledBy }, cancelledBy);
  for (const settled of await testing.children) {
    if (settled.status === 'rejected' && !(settled.reason instanceof ChildWorkflowFailure && isCancellation(settled.reason.cause))) {
      log.warn('an image test run failed', { error: failureReason(settled.reason) });
    }
  }
  if (!cancelledBy) run.enter({ stage: 'reporting' }, `${testing.results.length} jobs finished`);
  const finished = await finishComposeTest({
    composeId: input.composeId,
    status: cancelledBy ? 'aborted' : 'complete',
    reason: cancelledBy,
    supersededBy: run.status.supersededBy,
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
  if (!cancelledBy) run.enter({ stage: 'done' }, summary);
  else run.enter({}, `${cancelledBy}; ${summary}`);
  // An operator's cancel ends the run as cancelled; a newer compose's ends it as a normal outcome.
  if (operatorCancellation) throw operatorCancellation;
  return {
    composeId: input.composeId,
    status: cancelledBy ? 'aborted' : 'complete',
    supersededBy: run.status.supersededBy,
    passed: finished.passed,
    failed: finished.failed,
    errored: finished.errored,
    aborted: finished.aborted,
    jobs: testing.results,
  };
}
