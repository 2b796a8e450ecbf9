/**
 * Branching a release from rawhide (Fedora's mass-branching SOP), as a saga:
 *
 * 1. plan      - read Koji and Bodhi, decide every change (refused: unknown, not rawhide, already branched)
 * 2. koji-tags - snapshot rawhide's content for the new rawhide, create the tags
 * 3. koji-inheritance - the branched release's override and candidate tags inherit its updates tag
 * 4. koji-targets - `fN-candidate` and `fN+1` created, `rawhide` re-pointed at N+1
 * 5. bodhi     - FN edited into a branched release, FN+1 created for rawhide
 * 6. announce  - `releng-o-tron.release.branched`
 *
 * Every step is idempotent (a retry or a new run finds what exists). A step that still fails
 * after its retries waits for an operator (retry, skip, abort); abort undoes what the steps did,
 * newest first, each undo guarded and reported.
 */
import { CancellationScope, isCancellation, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { BranchStep } from '../activities/release.js';
import type { RelengActivities } from '../activities/index.js';
import type { BranchPlan } from '../common/release-branch.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { PROJECT_TOPIC, type ReleaseBranchedMessage } from '../common/schemas/outgoing.js';
import { BRANCH_FAILED, releaseBranchStatusQuery, type BranchStage, type ReleaseBranchStatus } from './api/release-branch.js';
import { waitingForQuery } from './api/waiting.js';
import { publish } from './messages.js';
import { failureText, OperatorGate } from './operator-gate.js';
import { compensatedFailure, UndoLog } from './undo.js';

const { planReleaseBranch } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '5 minutes',
  // Koji or Bodhi away: retry; a refusal (BranchRefused) is final.
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['BranchRefused'] },
  summary: 'read Koji and Bodhi, plan the branch',
});

const { applyBranchStep, undoBranchStep } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10 },
  summary: 'change Koji or Bodhi for the branch',
});

export interface ReleaseBranchInput {
  /** Bodhi's name of the release rawhide builds now: F45. */
  readonly release: string;
  /** While the run waits for an operator, a reminder goes out on the bus this often. */
  readonly operatorReminderMs: number;
}

const STEP_WORDS: Readonly<Record<BranchStep, string>> = {
  'koji-tags': 'snapshotting rawhide and creating the tags in Koji',
  'koji-inheritance': 'setting tag inheritance in Koji',
  'koji-targets': 'creating and re-pointing build targets in Koji',
  bodhi: 'editing and creating the releases in Bodhi',
};
const STEPS = Object.keys(STEP_WORDS) as BranchStep[];

export async function releaseBranch(input: ReleaseBranchInput): Promise<ReleaseBranchedMessage> {
  const { workflowId } = workflowInfo();
  let status: ReleaseBranchStatus = { release: input.release, stage: 'planning', plan: null, steps: [], skipped: [], awaitingOperator: [], compensation: null };
  const decide = `relengotron runs decide ${workflowId} retry|skip|abort --reason "..."`;
  const gate = new OperatorGate({
    reminderEveryMs: input.operatorReminderMs,
    decideCommand: decide,
    situation: () => `at stage ${status.stage}`,
    remind: (waiting) => publish({ topic: `${PROJECT_TOPIC}.release.waiting`, body: { release: input.release, workflow_id: workflowId, ...waiting, decide } }).then(() => undefined),
  });
  setHandler(releaseBranchStatusQuery, () => ({ ...status, awaitingOperator: gate.waiting }), { description: 'Stage, the plan, what each step changed, what was skipped or undone.' });
  setHandler(waitingForQuery, () => gate.waits, { description: 'A failed step waiting for an operator.' });
  const enter = (stage: BranchStage, details: string) => {
    status = { ...status, stage };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    setCurrentDetails(`**${stage}**: ${details}`);
  };

  enter('planning', `reading Koji and Bodhi for ${input.release}`);
  const plan = await planReleaseBranch({ release: input.release });
  status = { ...status, plan };
  const started: BranchStep[] = [];
  try {
    for (const step of STEPS) {
      enter(step, STEP_WORDS[step]);
      // Logged before it runs: a step that fails half-way is undone too.
      started.push(step);
      const outcome = await gate.run(STEP_WORDS[step], () => applyBranchStep({ plan, step }));
      if (outcome.kind === 'done') status = { ...status, steps: [...status.steps, { step, changed: outcome.value.changed }] };
      else status = { ...status, skipped: [...status.skipped, `${step}: ${outcome.reason}`] };
    }
    enter('announce', 'publishing releng-o-tron.release.branched');
    const message = branchedMessage(plan, workflowId, status.skipped);
    await publish({ topic: `${PROJECT_TOPIC}.release.branched`, body: message });
    enter('done', `${plan.release} branched; rawhide is F${plan.next}`);
    return message;
  } catch (err) {
    const report = await CancellationScope.nonCancellable(async () => {
      enter('compensating', `${failureText(err)}; undoing ${started.join(', ')}`);
      const undo = new UndoLog();
      for (const step of [...started].reverse()) {
        await undo.step(`undoing ${step}`, async () => {
          const done = await undoBranchStep({ plan, step });
          undo.undone.push(...done.undone);
          undo.notUndone.push(...done.notUndone);
        });
      }
      const report = undo.report(failureText(err));
      status = { ...status, compensation: report };
      enter('failed', `${report.failure}\n\nUndone: ${report.undone.join('; ') || 'nothing'}.${report.notUndone.length ? `\n\n**NOT undone**: ${report.notUndone.join('; ')}` : ''}`);
      return report;
    });
    throw isCancellation(err) ? err : compensatedFailure(err, report, BRANCH_FAILED);
  }
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
    skipped: [...skipped],
  };
}
