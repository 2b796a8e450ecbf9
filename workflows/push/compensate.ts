/**
 * A push that fails or is aborted undoes what it changed, newest change last as Bodhi's composer
 * left it: the builds moved back, half-synced mirror trees removed, Bodhi told. Each undo step is
 * guarded on its own: one that fails is recorded and the next still runs, and the original
 * failure is never masked.
 */
import { type ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { PUSH_FAILED, type CompensationReport } from '../api/push.js';
import { failureText } from '../../common/failure-text.js';
import { compensatedFailure, UndoLog } from '../undo.js';
import { moveBuilds, removeUnpublishedTree, reportPushToBodhi } from './activities.js';
import { chunks } from './mash.js';
import type { PushPlan, PushRun } from './run.js';

/** Undoes the run's changes and returns the failure to end the run with: the original, with the report in its details. */
export async function compensate(run: PushRun, plan: PushPlan, err: unknown): Promise<ApplicationFailure> {
  const failure = failureText(err);
  const report = await CancellationScope.nonCancellable(async (): Promise<CompensationReport> => {
    run.enter({ stage: 'compensating' }, `${failure}; undoing what this push changed`);
    const undo = new UndoLog();
    const { fromTag, toTag } = plan;
    for (const nvrs of chunks(run.changes.movedBuilds, run.input.mashBatch)) {
      await undo.step(`moving ${nvrs.length} builds back to ${fromTag}`, async () => {
        const back = await moveBuilds({ nvrs, fromTag: toTag, toTag: fromTag });
        for (const nvr of [...back.moved, ...back.alreadyThere]) undo.undone.push(`${nvr} moved back to ${fromTag}`);
        for (const f of back.failed) undo.notUndone.push(`${f.nvr} could NOT be moved back to ${fromTag}: ${f.reason}`);
      });
    }
    for (const tree of run.changes.mirrorTrees) {
      await undo.step(`removing the half-synced ${tree.path}/${tree.name}`, async () => {
        if ((await removeUnpublishedTree(tree)).removed) undo.undone.push(`half-synced ${tree.path}/${tree.name} removed`);
      });
    }
    await undo.step('telling Bodhi the push failed', async () => {
      await reportPushToBodhi({ release: run.input.release, request: run.input.request, state: 'failed', updates: plan.aliases, errorMessage: failure });
      undo.undone.push('Bodhi told the push failed');
    });
    const done = undo.report(failure);
    run.enter(
      { stage: 'failed', compensated: done.undone, compensation: done },
      `${failure}\n\nUndone: ${done.undone.join('; ') || 'nothing needed undoing'}.${done.notUndone.length ? `\n\n**NOT undone**: ${done.notUndone.join('; ')}` : ''}`,
    );
    return done;
  });
  return compensatedFailure(err, report, PUSH_FAILED);
}
