/**
 * The bus messages a compose test sends: Autocloud's per image and per compose, and the CI
 * messages for the `productmd-compose` artifact. Pure builders; the workflows publish them.
 */
import type { ComposeTestCounts, ComposeTestJob, ComposeTestPlan, FinishedJob } from '../activities/results-store.js';
import type { AutocloudComposeComplete, AutocloudComposeProgress, AutocloudImageMessage, AutocloudImageStatus } from '../common/schemas/autocloud.js';
import { ciFinishedMessage, CI_MESSAGE_VERSION, type CiMessageBase, type CiOutcome } from '../common/schemas/ci.js';

/** What the runs know about a compose that every message names. */
export interface ComposeRef {
  readonly composeId: string;
  readonly composeType: string;
  readonly workflowId: string;
  readonly dashboardUrl: string;
}

export const composePage = (dashboardUrl: string, composeId: string): string => `${dashboardUrl}/composes/${encodeURIComponent(composeId)}`;
export const jobOutputPage = (dashboardUrl: string, jobId: number): string => `${dashboardUrl}/jobs/${jobId}/output`;

export function imageMessage(composeId: string, release: string, job: ComposeTestJob, status: AutocloudImageStatus): { topic: string; body: AutocloudImageMessage } {
  return {
    topic: `autocloud.image.${status}`,
    body: {
      compose_id: composeId,
      compose_url: job.image.url,
      family: job.family,
      image_name: job.imageName,
      job_id: job.jobId,
      release,
      status,
      type: job.image.type,
    },
  };
}

export function composeProgressMessage(plan: ComposeTestPlan, status: 'queued' | 'running'): { topic: string; body: AutocloudComposeProgress } {
  return {
    topic: `autocloud.compose.${status}`,
    body: { ...plan.compose, release: plan.release, status, compose_job_id: plan.composeJobId },
  };
}

export function composeCompleteMessage(plan: ComposeTestPlan, counts: ComposeTestCounts, jobs: readonly FinishedJob[]): { topic: string; body: AutocloudComposeComplete } {
  const artifacts = Object.fromEntries(
    jobs.map((j) => [
      String(j.jobId),
      { architecture: j.arch, family: j.family, image_url: j.imageUrl, release: plan.release, subvariant: j.subvariant, format: j.format, type: j.type, name: j.name, status: j.status },
    ]),
  );
  return {
    topic: 'autocloud.compose.complete',
    body: {
      ...plan.compose,
      release: plan.release,
      status: 'completed',
      compose_job_id: plan.composeJobId,
      results: { success: counts.passed, failed: counts.failed + counts.errored + counts.aborted, artifacts },
    },
  };
}

function ciBase(ref: ComposeRef, systems: readonly { provider: string; architecture: string }[]): CiMessageBase {
  const page = composePage(ref.dashboardUrl, ref.composeId);
  return {
    contact: {
      name: 'releng-o-tron',
      team: 'Release Engineering',
      docs: `${ref.dashboardUrl}/about`,
      email: 'releng@lists.fedoraproject.org',
    },
    run: { url: page, log: page },
    artifact: { type: 'productmd-compose', id: ref.composeId, compose_type: ref.composeType },
    pipeline: { id: ref.workflowId, name: 'compose-test' },
    test: { category: 'functional', namespace: 'releng-o-tron', type: 'cloud-images' },
    system: systems.length > 0 ? systems.map((s) => ({ os: 'fedora', ...s })) : [{ os: 'fedora', provider: 'qemu', architecture: 'x86_64' }],
    generatedAt: new Date().toISOString(),
  };
}

/** The providers and arches a compose's jobs ran on, for the CI message's `system`. */
export function ciSystems(jobs: readonly ComposeTestJob[]): { provider: string; architecture: string }[] {
  const seen = new Map<string, { provider: string; architecture: string }>();
  for (const job of jobs) seen.set(`${job.provider}/${job.arch}`, { provider: job.provider === 'vbox' ? 'virtualbox' : 'qemu', architecture: job.arch });
  return [...seen.values()];
}

export function ciProgressMessage(ref: ComposeRef, event: 'queued' | 'running'): { topic: string; body: Record<string, unknown> } {
  const base = ciBase(ref, []);
  return {
    topic: `ci.productmd-compose.test.${event}`,
    body: { contact: base.contact, run: base.run, artifact: base.artifact, pipeline: base.pipeline, test: base.test, generated_at: base.generatedAt, version: CI_MESSAGE_VERSION },
  };
}

export function ciComposeFinished(ref: ComposeRef, jobs: readonly ComposeTestJob[], outcome: CiOutcome): { topic: string; body: Record<string, unknown> } {
  return ciFinishedMessage(ciBase(ref, ciSystems(jobs)), outcome);
}
