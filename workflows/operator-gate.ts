/**
 * When a step still fails after its retries, the run waits for a person instead of failing:
 * retry the step, skip it with a reason, or abort the run. The wait is visible in the Web UI (the
 * `RelengAwaitingOperator` search attribute, the current details, the signal's description), in
 * the `status` query (`relengotron runs show`), and on the bus as reminders until someone decides.
 */
import {
  ApplicationFailure,
  condition,
  defineSignal,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';

export type OperatorDecision = (
  | { readonly action: 'retry' }
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'abort'; readonly reason: string }
) & {
  /** The waiting step this answers; without it, every step waiting at the time. */
  readonly step?: string;
};

export const operatorDecisionSignal = defineSignal<[OperatorDecision]>('operatorDecision');

export const ABORTED_BY_OPERATOR = 'AbortedByOperator';

export interface AwaitingOperator {
  readonly step: string;
  readonly error: string;
  readonly since: string;
  readonly reminders: number;
}

export type GateOutcome<T> = { readonly kind: 'done'; readonly value: T } | { readonly kind: 'skipped'; readonly reason: string };

export class OperatorGate {
  private readonly waitingSteps = new Map<number, AwaitingOperator>();
  private readonly decisions = new Map<number, OperatorDecision>();
  private nextWait = 0;

  constructor(
    private readonly reminderEveryMs: number,
    private readonly remind: (waiting: AwaitingOperator) => Promise<void>,
  ) {
    setHandler(
      operatorDecisionSignal,
      (decision) => {
        for (const [id, waiting] of this.waitingSteps) {
          if (!decision.step || decision.step === waiting.step) this.decisions.set(id, decision);
        }
      },
      {
        description:
          'For a run waiting for an operator: {"action": "retry"} runs the failed step again, ' +
          '{"action": "skip", "reason": "..."} goes on without it, {"action": "abort", "reason": "..."} ends the run. ' +
          'With "step" it answers that step only; without, every step waiting.',
      },
    );
  }

  /** The steps the run waits on an operator for. */
  get waiting(): AwaitingOperator[] {
    return [...this.waitingSteps.values()];
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

  private show(): void {
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.awaitingOperator, value: this.waitingSteps.size > 0 }]);
    if (this.waitingSteps.size === 0) return;
    const steps = this.waiting.map((w) => `- ${w.step}: ${w.error}`).join('\n');
    setCurrentDetails(
      `**waiting for an operator**: ${this.waitingSteps.size} step(s) failed after their retries:\n\n${steps}\n\n` +
        'Send the signal `operatorDecision` with `{"action": "retry"}`, `{"action": "skip", "reason": "..."}` or ' +
        '`{"action": "abort", "reason": "..."}` (add `"step"` to answer one), or run `relengotron runs decide <workflow id> retry|skip|abort`.',
    );
  }

  private async wait(step: string, error: string): Promise<OperatorDecision> {
    const id = this.nextWait++;
    const since = new Date().toISOString();
    this.waitingSteps.set(id, { step, error, since, reminders: 0 });
    this.show();
    try {
      let reminders = 0;
      while (!(await condition(() => this.decisions.has(id), this.reminderEveryMs))) {
        const current = { step, error, since, reminders: ++reminders };
        this.waitingSteps.set(id, current);
        await this.remind(current);
      }
      return this.decisions.get(id)!;
    } finally {
      this.waitingSteps.delete(id);
      this.decisions.delete(id);
      this.show();
    }
  }
}

/** The innermost message of a failure: what went wrong, not which layer reported it. */
export function failureText(err: unknown): string {
  let node: unknown = err;
  while (node instanceof Error && node.cause instanceof Error) node = node.cause;
  return node instanceof Error ? node.message : String(err);
}
