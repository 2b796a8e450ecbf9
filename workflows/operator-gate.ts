/**
 * When a step still fails after its retries, the run waits for a person instead of failing:
 * retry the step, skip it with a reason, or abort the run. The wait is visible in the Web UI (the
 * `RelengAwaitingOperator` search attribute, the current details, the update's description), in
 * the `status` and `waitingFor` queries (`relengotron runs show`), and on the bus as reminders
 * until someone decides. A decision is a Workflow Update: one that fits no waiting step is
 * refused with what the run is waiting for.
 */
import {
  ApplicationFailure,
  condition,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { failureText } from '../common/failure-text.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import {
  ABORTED_BY_OPERATOR,
  legacyOperatorDecisionSignal,
  operatorDecisionUpdate,
  type AwaitingOperator,
  type DecisionOutcome,
  type OperatorDecision,
} from './api/operator.js';
import type { Waiting } from './api/waiting.js';

export type GateOutcome<T> = { readonly kind: 'done'; readonly value: T } | { readonly kind: 'skipped'; readonly reason: string };

export interface OperatorGateOptions {
  /** While a step waits, a reminder goes out this often. */
  readonly reminderEveryMs: number;
  readonly remind: (waiting: AwaitingOperator) => Promise<void>;
  /** What the run is doing when nothing waits for an operator: said when a decision is refused. */
  readonly situation: () => string;
  /** The command that answers, for the details and the reminders. */
  readonly decideCommand: string;
}

const ACTIONS = new Set(['retry', 'skip', 'abort']);
/** The failure type an operator decision is refused with (the update's validator; the run itself goes on). */
export const DECISION_REFUSED = 'DecisionRefused';
const refused = (message: string) => ApplicationFailure.nonRetryable(message, DECISION_REFUSED);
/** A reason goes into the run's status, its failure and bus messages: a sentence, not a document. */
const MAX_REASON = 1000;
const MAX_STEP = 300;

export class OperatorGate {
  private readonly waitingSteps = new Map<number, AwaitingOperator>();
  private readonly decisions = new Map<number, OperatorDecision>();
  private nextWait = 0;

  constructor(private readonly options: OperatorGateOptions) {
    setHandler(operatorDecisionUpdate, (decision) => this.accept(decision), {
      validator: (decision: OperatorDecision) => this.validate(decision),
      description:
        'For a run waiting for an operator: {"action": "retry"} runs the failed step again, ' +
        '{"action": "skip", "reason": "..."} goes on without it, {"action": "abort", "reason": "..."} ends the run. ' +
        'With "step" it answers that step only; without, every step waiting. Refused when nothing waits or the step does not.',
    });
    setHandler(legacyOperatorDecisionSignal, (decision) => {
      // A signal cannot be refused: one that does not fit is dropped (a throw here would fail the workflow task on every replay).
      try {
        this.validate(decision);
      } catch {
        return;
      }
      this.accept(decision);
    }, { description: 'The decision as a signal, from clients before the operatorDecision update; prefer the update.' });
  }

  /** The steps the run waits on an operator for. */
  get waiting(): AwaitingOperator[] {
    return [...this.waitingSteps.values()];
  }

  /** The operator waits in the shape every workflow's `waitingFor` query uses. */
  get waits(): Waiting[] {
    return this.waiting.map((w) => ({ for: `an operator to decide on "${w.step}" (failed: ${w.error})`, since: w.since, until: null, answer: this.options.decideCommand }));
  }

  async run<T>(step: string, work: () => Promise<T>): Promise<GateOutcome<T>> {
    for (;;) {
      try {
        return { kind: 'done', value: await work() };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const decision = await this.wait(step, failureText(err));
        if (decision.action === 'skip') return { kind: 'skipped', reason: decision.reason };
        if (decision.action === 'abort') throw ApplicationFailure.nonRetryable(`aborted by an operator at ${step}: ${decision.reason}`, ABORTED_BY_OPERATOR);
      }
    }
  }

  /** Waits not yet decided that this decision answers. */
  private matching(decision: OperatorDecision): number[] {
    return [...this.waitingSteps].filter(([id, w]) => !this.decisions.has(id) && (!decision.step || decision.step === w.step)).map(([id]) => id);
  }

  /** Throws, refusing the update, when the decision is malformed or does not fit what waits. */
  private validate(decision: OperatorDecision): void {
    const given: unknown = decision;
    if (typeof given !== 'object' || given === null || Array.isArray(given) || !ACTIONS.has((given as { action?: unknown }).action as string)) {
      throw refused('a decision is {"action": "retry"|"skip"|"abort"}, with a "reason" for skip and abort');
    }
    const extra = Object.keys(given).filter((k) => !['action', 'reason', 'step'].includes(k));
    if (extra.length > 0) throw refused(`a decision has no ${extra.slice(0, 3).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`);
    const { reason, step } = given as { reason?: unknown; step?: unknown };
    if (step !== undefined && !(typeof step === 'string' && step.length > 0 && step.length <= MAX_STEP)) throw refused(`"step" names a waiting step (1 to ${MAX_STEP} characters)`);
    if (decision.action !== 'retry' && !(typeof reason === 'string' && reason.trim())) {
      throw refused(`${decision.action} needs a reason`);
    }
    if (reason !== undefined && !(typeof reason === 'string' && reason.length <= MAX_REASON)) throw refused(`the reason is text of at most ${MAX_REASON} characters`);
    if (this.waitingSteps.size === 0) throw refused(`nothing waits for an operator: the run is ${this.options.situation()}`);
    if (this.matching(decision).length === 0) {
      throw refused(
        decision.step && !this.waiting.some((w) => w.step === decision.step)
          ? `no step "${decision.step}" waits; waiting: ${this.waiting.map((w) => `"${w.step}"`).join(', ')}`
          : 'every waiting step has a decision already, and resumes with it',
      );
    }
  }

  private accept(decision: OperatorDecision): DecisionOutcome {
    const ids = this.matching(decision);
    for (const id of ids) this.decisions.set(id, decision);
    return { action: decision.action, steps: ids.map((id) => this.waitingSteps.get(id)!.step) };
  }

  private show(): void {
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.awaitingOperator, value: this.waitingSteps.size > 0 }]);
    if (this.waitingSteps.size === 0) return;
    const steps = this.waiting.map((w) => `- ${w.step}: ${w.error}`).join('\n');
    setCurrentDetails(
      `**waiting for an operator**: ${this.waitingSteps.size} step(s) failed after their retries:\n\n${steps}\n\n` +
        'Send the update `operatorDecision` with `{"action": "retry"}`, `{"action": "skip", "reason": "..."}` or ' +
        `\`{"action": "abort", "reason": "..."}\` (add \`"step"\` to answer one), or run \`${this.options.decideCommand}\`.`,
    );
  }

  private async wait(step: string, error: string): Promise<OperatorDecision> {
    const id = this.nextWait++;
    const since = new Date().toISOString();
    this.waitingSteps.set(id, { step, error, since, reminders: 0 });
    this.show();
    try {
      let reminders = 0;
      while (!(await condition(() => this.decisions.has(id), this.options.reminderEveryMs))) {
        const current = { step, error, since, reminders: ++reminders };
        this.waitingSteps.set(id, current);
        // Awaited, so the run never ends with a reminder in flight (a workflow that completes while an
        // activity's result is arriving has its task refused, and an operator's decision in that task
        // with it); the reminder's few tries (publishReminder) keep a failing bus from holding a decision long.
        await this.options.remind(current);
      }
      return this.decisions.get(id)!;
    } finally {
      this.waitingSteps.delete(id);
      this.decisions.delete(id);
      this.show();
    }
  }
}
