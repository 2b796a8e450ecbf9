/**
 * End of life of a release (Fedora's EOL SOP), as a saga (workflows/release-saga.ts):
 *
 * 1. plan         - read Koji, Bodhi, PDC, the mirror and the OSTree repository
 *                   (refused: unknown, rawhide, already at end of life)
 * 2. koji-targets - the release's build targets deleted
 * 3. koji-lock    - its tags locked
 *    config       - its gating lanes and compose stream stopped
 * 4. bodhi        - its Bodhi release archived (Bodhi obsoletes the open updates)
 * 5. pdc          - its PDC release inactive
 * 6. mirror       - its mirror trees moved to the archive (rsync --delay-updates, verified, then removed)
 * 7. ostree       - each of its refs pruned to the last commit
 * 8. announce     - `releng-o-tron.release.eol`
 *
 * The reversible steps come first; aborting undoes them (pruned commits cannot come back, and
 * the report says so).
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { EolStep } from '../activities/release.js';
import type { EolPlan } from '../common/release-eol.js';
import { PROJECT_TOPIC, type ReleaseEolMessage } from '../common/schemas/outgoing.js';
import { PATCHES } from './patches.js';
import { runReleaseSaga } from './release-saga.js';

const { planReleaseEol } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['EolRefused'] },
  summary: 'read Koji, Bodhi, PDC, the mirror and the OSTree repository; plan the end of life',
});

const { applyEolStep, undoEolStep } = proxyActivities<RelengActivities>({
  // Moving a release's mirror trees is hours of rsync; it heartbeats per tree.
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'end of life: change Koji, Bodhi, PDC, the mirror or the OSTree repository',
});

export interface ReleaseEolInput {
  /** Bodhi's name of the release: F43. */
  readonly release: string;
  readonly operatorReminderMs: number;
}

const CONFIG_STEP = { step: 'config', words: 'stopping its gating lanes and compose stream' } as const;
const STEPS: readonly { step: EolStep; words: string }[] = [
  { step: 'koji-targets', words: 'deleting the build targets in Koji' },
  { step: 'koji-lock', words: 'locking the tags in Koji' },
  { step: 'bodhi', words: 'archiving the release in Bodhi' },
  { step: 'pdc', words: 'marking the release inactive in PDC' },
  { step: 'mirror', words: 'moving the mirror trees to the archive' },
  { step: 'ostree', words: 'pruning the OSTree refs to their last commit' },
];

export function releaseEol(input: ReleaseEolInput): Promise<ReleaseEolMessage> {
  // Runs started before the configuration step go on without it.
  const steps = patched(PATCHES.releaseConfigStep) ? [...STEPS.slice(0, 2), CONFIG_STEP, ...STEPS.slice(2)] : STEPS;
  return runReleaseSaga<EolPlan, EolStep, ReleaseEolMessage>({
    release: input.release,
    operatorReminderMs: input.operatorReminderMs,
    plan: () => planReleaseEol({ release: input.release }),
    steps,
    apply: (plan, step) => applyEolStep({ plan, step }),
    undo: (plan, step) => undoEolStep({ plan, step }),
    announce: (plan, skipped) => ({
      topic: `${PROJECT_TOPIC}.release.eol`,
      body: {
        release: plan.release,
        workflow_id: workflowInfo().workflowId,
        koji: { deleted_targets: plan.deleteTargets.map((t) => t.name), locked_tags: [...plan.lockTags] },
        bodhi: 'archived',
        pdc: plan.pdc ? plan.pdc.releaseId : null,
        archived_trees: plan.archive.map((a) => ({ ...a })),
        ostree_refs: [...plan.ostreeRefs],
        skipped: [...skipped],
      },
    }),
    done: (plan) => `${plan.release} is at end of life`,
  });
}
