/**
 * Branching a release from rawhide (Fedora's mass-branching SOP), as a saga (workflows/release-saga.ts):
 *
 * 1. plan             - read Koji and Bodhi, decide every change (refused: unknown, not rawhide, left over)
 * 2. koji-tags        - snapshot rawhide's content for the new rawhide, create the tags
 * 3. koji-inheritance - the branched release's override and candidate tags inherit its updates tag
 * 4. koji-targets     - `fN-candidate` and `fN+1` created, `rawhide` re-pointed at N+1
 * 5. ostree           - `fedora/N/<arch>/<variant>` refs made at rawhide's last commits, where trees exist
 * 6. bodhi            - FN edited into a branched release, FN+1 created for rawhide
 * 7. config           - rawhide's gating lane moved on to N+1 (Bodhi gates FN from now on)
 * 8. announce         - `releng-o-tron.release.branched`
 *
 * Every step is idempotent (a retry or a new run finds what exists).
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { BranchStep } from '../activities/release.js';
import type { BranchPlan } from '../common/release-branch.js';
import { PROJECT_TOPIC, type ReleaseBranchedMessage } from '../common/schemas/outgoing.js';
import { PATCHES } from './patches.js';
import { runReleaseSaga } from './release-saga.js';

const { planReleaseBranch } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '5 minutes',
  // Koji or Bodhi away: retry; a refusal (BranchRefused) is final.
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['BranchRefused'] },
  summary: 'read Koji and Bodhi, plan the branch',
});

const { applyBranchStep, undoBranchStep } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '30 minutes',
  // Beats per tag, target and ref: a worker that dies mid-step is noticed within this, and the step resumes on another.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10 },
  summary: 'change Koji or Bodhi for the branch',
});

export interface ReleaseBranchInput {
  /** Bodhi's name of the release rawhide builds now: F45. */
  readonly release: string;
  /** While the run waits for an operator, a reminder goes out on the bus this often. */
  readonly operatorReminderMs: number;
}

const KOJI_STEPS: readonly { step: BranchStep; words: string }[] = [
  { step: 'koji-tags', words: 'snapshotting rawhide and creating the tags in Koji' },
  { step: 'koji-inheritance', words: 'setting tag inheritance in Koji' },
  { step: 'koji-targets', words: 'creating and re-pointing build targets in Koji' },
];
const OSTREE_STEP = { step: 'ostree', words: "creating the release's OSTree refs at rawhide's last commits" } as const;
const BODHI_STEP = { step: 'bodhi', words: 'editing and creating the releases in Bodhi' } as const;
const CONFIG_STEP = { step: 'config', words: "moving rawhide's gating lane on to the new rawhide" } as const;

export function releaseBranch(input: ReleaseBranchInput): Promise<ReleaseBranchedMessage> {
  // Runs started before the OSTree step was added go on without it.
  const steps = patched(PATCHES.branchOstreeRefs) ? [...KOJI_STEPS, OSTREE_STEP, BODHI_STEP] : [...KOJI_STEPS, BODHI_STEP];
  if (patched(PATCHES.releaseConfigStep)) steps.push(CONFIG_STEP);
  return runReleaseSaga<BranchPlan, BranchStep, ReleaseBranchedMessage>({
    release: input.release,
    operatorReminderMs: input.operatorReminderMs,
    plan: () => planReleaseBranch({ release: input.release }),
    steps,
    apply: (plan, step) => applyBranchStep({ plan, step }),
    undo: (plan, step) => undoBranchStep({ plan, step }),
    announce: (plan, skipped) => ({ topic: `${PROJECT_TOPIC}.release.branched`, body: branchedMessage(plan, workflowInfo().workflowId, skipped) }),
    done: (plan) => `${plan.release} branched; rawhide is F${plan.next}`,
  });
}

function branchedMessage(plan: BranchPlan, workflowId: string, skipped: readonly string[]): ReleaseBranchedMessage {
  return {
    release: plan.release,
    rawhide: `F${plan.next}`,
    workflow_id: workflowId,
    koji: {
      tags: [plan.snapshot.dst, ...plan.createTags.map((t) => t.name)],
      targets: [...plan.createTargets.map((t) => t.name), ...plan.editTargets.map((t) => `${t.name} (re-pointed)`)],
      snapshot: plan.snapshot,
    },
    bodhi: { edited: plan.release, created: plan.bodhi.create.name },
    ...(plan.ostree ? { ostree_refs: plan.ostree.map((r) => r.ref) } : {}),
    skipped: [...skipped],
  };
}
