/**
 * One image on one provider: a child of the compose's test run. Its one activity goes to the
 * provider's task queue (`image-libvirt`, `image-vbox`), so only hosts that can boot the image
 * take it; the run itself is on `releng` (runs from before PATCHES.imageTestOnRelengQueue are on
 * the provider's queue, which image workers still poll), so a provider with no host at all ends
 * the job at `waitForHost`. The host does
 * the work in one activity (fetch, boot, plan, teardown) because the image it fetched is on its
 * own disk; a host that dies stops heartbeating and the job moves to another host.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { HostReport, ImageTestActivities, TestImageResult } from '../activities/image-test.js';
import type { ComposeTestJob, ComposeTestPlan } from '../activities/results-store.js';
import type { FinishedJobStatus } from '../common/compose-testing.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { providerQueue, TASK_QUEUES } from '../common/task-queues.js';
import { attemptStartedSignal, imageTestStatusQuery, type ImageTestStatus } from './api/image-test.js';
import { waitingForQuery } from './api/waiting.js';
import { imageMessage } from './compose-test-messages.js';
import { publish } from './messages.js';

// Failure types thrown by activities/image-test.ts that no retry can fix.
const FINAL_IMAGE_FAULTS = ['TestPlanInvalid', 'ImageNotServed', 'ImageUnusable'];

const { recordJobAttempt, recordJobResult } = proxyActivities<RelengActivities>({
  taskQueue: TASK_QUEUES.releng,
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  summary: 'record the job in the results store',
});

export interface ImageTestInput {
  readonly composeId: string;
  readonly release: string;
  readonly job: ComposeTestJob;
  readonly policy: ComposeTestPlan['policy'];
  /** Upper bound for one attempt: download, boot, every command and poll. */
  readonly attemptTimeoutMs: number;
}

export interface ImageTestResult {
  readonly jobId: number;
  readonly status: FinishedJobStatus;
  readonly reason: string | null;
}

/** The words an operator needs: which fault, from where, without the stack. */
function describeFailure(err: unknown, policy: ImageTestInput['policy'], provider: string): string {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof TimeoutFailure) {
      if (cause.timeoutType === 'SCHEDULE_TO_START') return `no image-${provider} host took the job within ${policy.waitForHostMs / 1000} s`;
      if (cause.timeoutType === 'HEARTBEAT') return `the host stopped answering (no heartbeat for ${policy.hostHeartbeatTimeoutMs / 1000} s) on the last of ${policy.attempts} attempts`;
      return `the test took longer than allowed (${cause.timeoutType})`;
    }
    if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
    if (cause) return cause.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export async function imageTest(input: ImageTestInput): Promise<ImageTestResult> {
  const { job, policy } = input;
  const { testImage } = proxyActivities<ImageTestActivities>({
    // The provider's queue: only hosts that can boot the image take it (the workflow itself runs on `releng`).
    taskQueue: providerQueue(job.provider),
    scheduleToStartTimeout: policy.waitForHostMs,
    startToCloseTimeout: input.attemptTimeoutMs,
    heartbeatTimeout: policy.hostHeartbeatTimeoutMs,
    retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumAttempts: policy.attempts, nonRetryableErrorTypes: FINAL_IMAGE_FAULTS },
    // On cancellation wait until the host has torn the VM down before recording the abort.
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    summary: `fetch ${job.image.fileName}, boot it, run the plan`,
  });

  let status: ImageTestStatus = {
    jobId: job.jobId,
    image: job.image.fileName,
    provider: job.provider,
    status: 'queued',
    host: null,
    attempt: 0,
    reason: null,
    failedCommand: null,
  };
  setHandler(imageTestStatusQuery, () => status, { description: 'The job: status, host, attempt, reason, the failed command.' });
  const queuedAt = new Date();
  setHandler(waitingForQuery, () => {
    if (status.status === 'queued') {
      return [{ for: `an image-${job.provider} host to take the job`, since: queuedAt.toISOString(), until: new Date(queuedAt.getTime() + policy.waitForHostMs).toISOString(), answer: `start a worker on the image-${job.provider} queue` }];
    }
    return status.status === 'running' ? [{ for: `${status.host ?? 'the host'} to finish attempt ${status.attempt}`, since: null, until: null, answer: null }] : [];
  }, { description: 'A host to take the job, or the running attempt.' });
  const show = (next: Partial<ImageTestStatus>, details: string) => {
    status = { ...status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.status }]);
    setCurrentDetails(`**${status.status}** ${job.image.fileName} on ${job.provider}: ${details}\n\n[job ${job.jobId}](../jobs/${job.jobId}/output)`);
  };
  const announce = (s: Parameters<typeof imageMessage>[3]) => publish(imageMessage(input.composeId, input.release, job, s));

  // Attempts report themselves from the host; each is recorded in order, the first announced.
  const reports: HostReport[] = [];
  setHandler(attemptStartedSignal, (report) => void reports.push(report), {
    description: 'Sent by the image host when an attempt starts there: host name and attempt number.',
  });
  let testing = true;
  const recordAttempts = CancellationScope.nonCancellable(async () => {
    let recorded = 0;
    for (;;) {
      await condition(() => reports.length > recorded || !testing);
      if (reports.length === recorded) return;
      const report = reports[recorded++]!;
      if (status.status === 'queued' || status.status === 'running') {
        show({ status: 'running', host: report.host, attempt: report.attempt }, `attempt ${report.attempt} on ${report.host}`);
      }
      await recordJobAttempt({ jobId: job.jobId, host: report.host, attempt: report.attempt });
      if (recorded === 1) await announce('running');
    }
  });

  show({}, `waiting for an image-${job.provider} host`);
  await announce('queued');
  let outcome: { status: FinishedJobStatus; reason: string | null; result: TestImageResult | null };
  try {
    const result = await testImage({ jobId: job.jobId, image: job.image, provider: job.provider, downloadTimeoutMs: policy.downloadStallTimeoutMs ?? 120_000, ...job.settings });
    const failedAt = result.summary.failedAt;
    outcome = failedAt
      ? { status: 'failed', reason: `line ${failedAt.line} \`${failedAt.command}\` ${failedAt.timedOut ? 'timed out' : `exited ${failedAt.exitCode}`}`, result }
      : { status: 'success', reason: null, result };
    if (failedAt) status = { ...status, failedCommand: { line: failedAt.line, command: failedAt.command, exitCode: failedAt.exitCode } };
  } catch (err) {
    testing = false;
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await recordAttempts;
        show({ status: 'aborted', reason: 'cancelled' }, 'cancelled; the VM was torn down');
        await recordJobResult({ jobId: job.jobId, status: 'aborted', reason: 'the compose test was cancelled or superseded' });
        await announce('aborted');
      });
      throw err;
    }
    outcome = { status: 'error', reason: describeFailure(err, policy, job.provider), result: null };
  }
  testing = false;
  await recordAttempts;
  const { result } = outcome;
  show({ status: outcome.status, reason: outcome.reason }, outcome.reason ?? `passed on ${result?.host} (${result?.backend}, ${result?.accelerator}, booted in ${result?.bootMs} ms)`);
  await recordJobResult({
    jobId: job.jobId,
    status: outcome.status,
    reason: outcome.reason,
    ...(result ? { host: result.host, accelerator: result.accelerator, backend: result.backend, bootMs: result.bootMs, outcomes: result.outcomes } : {}),
    ...(result?.acceleratorFallback ? { acceleratorFallback: result.acceleratorFallback } : {}),
  });
  // Autocloud has no `error` message: a job that could not run is reported failed, as it did.
  await announce(outcome.status === 'success' ? 'success' : 'failed');
  return { jobId: job.jobId, status: outcome.status, reason: outcome.reason };
}
