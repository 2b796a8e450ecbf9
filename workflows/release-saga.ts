/**
 * The shape both release lifecycle runs share (branching, end of life): plan, then named steps
 * each waiting for an operator when it fails past its retries, then a message; aborted or failed,
 * the steps that ran are undone newest first, each undo guarded and reported.
 */
import { CancellationScope, isCancellation, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { StepOutcome, UndoOutcome } from '../activities/release.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { PROJECT_TOPIC } from '../common/schemas/outgoing.js';
import { RELEASE_SAGA_FAILED, releaseSagaStatusQuery, type ReleaseSagaStatus } from './api/release.js';
import { waitingForQuery } from './api/waiting.js';
import { publish, publishReminder } from './messages.js';
import { failureText } from '../common/failure-text.js';
import { OperatorGate } from './operator-gate.js';
import { compensatedFailure, UndoLog } from './undo.js';

export interface ReleaseSaga<Plan extends ReleaseSagaStatus['plan'] & object, Step extends string, Message extends Record<string, unknown>> {
  readonly release: string;
  readonly operatorReminderMs: number;
  readonly plan: () => Promise<Plan>;
  /** In order, each with the words the status and the operator see. */
  readonly steps: readonly { readonly step: Step; readonly words: string }[];
  readonly apply: (plan: Plan, step: Step) => Promise<StepOutcome>;
  readonly undo: (plan: Plan, step: Step) => Promise<UndoOutcome>;
  readonly announce: (plan: Plan, skipped: readonly string[]) => { readonly topic: string; readonly body: Message };
  readonly done: (plan: Plan) => string;
}

export async function runReleaseSaga<Plan extends ReleaseSagaStatus['plan'] & object, Step extends string, Message extends Record<string, unknown>>(
  saga: ReleaseSaga<Plan, Step, Message>,
): Promise<Message> {
  const { workflowId } = workflowInfo();
  let status: ReleaseSagaStatus = { release: saga.release, stage: 'planning', plan: null, steps: [], skipped: [], awaitingOperator: [], compensation: null };
  const decide = `relengotron runs decide ${workflowId} retry|skip|abort --reason "..."`;
  const gate = new OperatorGate({
    reminderEveryMs: saga.operatorReminderMs,
    decideCommand: decide,
    situation: () => `at stage ${status.stage}`,
    remind: (waiting) => publishReminder({ topic: `${PROJECT_TOPIC}.release.waiting`, body: { release: saga.release, workflow_id: workflowId, ...waiting, decide } }),
  });
  setHandler(releaseSagaStatusQuery, () => ({ ...status, awaitingOperator: gate.waiting }), { description: 'Stage, the plan, what each step changed, what was skipped or undone.' });
  setHandler(waitingForQuery, () => gate.waits, { description: 'A failed step waiting for an operator.' });
  const enter = (stage: string, details: string) => {
    status = { ...status, stage };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    setCurrentDetails(`**${stage}**: ${details}`);
  };

  enter('planning', `reading the services for ${saga.release}`);
  const plan = await saga.plan();
  status = { ...status, plan };
  const started: Step[] = [];
  try {
    for (const { step, words } of saga.steps) {
      enter(step, words);
      // Logged before it runs: a step that fails half-way is undone too.
      started.push(step);
      const outcome = await gate.run(words, () => saga.apply(plan, step));
      if (outcome.kind === 'done') status = { ...status, steps: [...status.steps, { step, changed: outcome.value.changed }] };
      else status = { ...status, skipped: [...status.skipped, `${step}: ${outcome.reason}`] };
    }
  } catch (err) {
    const report = await CancellationScope.nonCancellable(async () => {
      enter('compensating', `${failureText(err)}; undoing ${started.join(', ')}`);
      const undo = new UndoLog();
      for (const step of [...started].reverse()) {
        await undo.step(`undoing ${step}`, async () => {
          const done = await saga.undo(plan, step);
          undo.undone.push(...done.undone);
          undo.notUndone.push(...done.notUndone);
        });
      }
      const report = undo.report(failureText(err));
      status = { ...status, compensation: report };
      enter('failed', `${report.failure}\n\nUndone: ${report.undone.join('; ') || 'nothing'}.${report.notUndone.length ? `\n\n**NOT undone**: ${report.notUndone.join('; ')}` : ''}`);
      return report;
    });
    throw isCancellation(err) ? err : compensatedFailure(err, report, RELEASE_SAGA_FAILED);
  }
  // Every step is done: a message that cannot go out does not undo the release's change.
  const message = saga.announce(plan, status.skipped);
  enter('announce', `publishing ${message.topic}`);
  await publish(message);
  enter('done', saga.done(plan));
  return message.body;
}
