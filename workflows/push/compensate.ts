/**
 * A push that fails or is aborted undoes what it changed, newest change last as Bodhi's composer
 * left it: the builds moved back, half-synced mirror trees removed, Bodhi told. Each undo step is
 * guarded on its own: one that fails is recorded and the next still runs, and the original
 * failure is never masked.
 */
import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { PUSH_FAILED, type CompensationReport } from '../api/push.js';
import { failureText } from '../operator-gate.js';
import { moveBuilds, removeUnpublishedTree, reportPushToBodhi } from './activities.js';
import { chunks } from './mash.js';
import type { PushPlan, PushRun } from './run.js';

class Undo {
  readonly undone: string[] = [];
  readonly notUndone: string[] = [];

  /** Runs one undo step; a failure is recorded as what could not be undone, never thrown. */
  async step(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.notUndone.push(`${what}: ${failureText(err)}`);
    }
  }
}

/** Undoes the run's changes and returns the failure to end the run with: the original, with the report in its details. */
export async function compensate(run: PushRun, plan: PushPlan, err: unknown): Promise<ApplicationFailure> {
  const failure = failureText(err);
  const report = await CancellationScope.nonCancellable(async (): Promise<CompensationReport> => {
    run.enter({ stage: 'compensating' }, `${failure}; undoing what this push changed`);
    const undo = new Undo();
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
    const done: CompensationReport = { failure, undone: undo.undone, notUndone: undo.notUndone };
    run.enter(
      { stage: 'failed', compensated: done.undone, compensation: done },
      `${failure}\n\nUndone: ${done.undone.join('; ') || 'nothing needed undoing'}.${done.notUndone.length ? `\n\n**NOT undone**: ${done.notUndone.join('; ')}` : ''}`,
    );
    return done;
  });
  const type = err instanceof ApplicationFailure && err.type ? err.type : PUSH_FAILED;
  const summary = report.notUndone.length > 0 ? ` (compensated; ${report.notUndone.length} change(s) could NOT be undone: ${report.notUndone.join('; ')})` : ' (compensated)';
  return ApplicationFailure.create({ message: `${failure}${summary}`, type, nonRetryable: true, details: [report], cause: err instanceof Error ? err : undefined });
}
