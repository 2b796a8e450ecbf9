/**
 * Operator decisions: a step that still fails after its retries waits for a person to retry it,
 * skip it with a reason, or abort the run. Decisions are Workflow Updates, so one that fits no
 * waiting step is refused with the reason instead of being dropped.
 */
import { defineSignal, defineUpdate } from '@temporalio/workflow';

export type OperatorAction = 'retry' | 'skip' | 'abort';

export type OperatorDecision = (
  | { readonly action: 'retry' }
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'abort'; readonly reason: string }
) & {
  /** The waiting step this answers; without it, every step waiting at the time. */
  readonly step?: string;
};

/** What an accepted decision answered. */
export interface DecisionOutcome {
  readonly action: OperatorAction;
  /** The steps the decision was given to; each resumes (or ends the run) right after. */
  readonly steps: readonly string[];
}

export const operatorDecisionUpdate = defineUpdate<DecisionOutcome, [OperatorDecision]>('operatorDecision');

/**
 * The decision as a signal, as clients before the Update sent it. Kept so that runs started then,
 * and their saved histories, still take it; a signal that fits nothing is dropped, so nothing
 * new sends it.
 */
export const legacyOperatorDecisionSignal = defineSignal<[OperatorDecision]>('operatorDecision');

/** The failure type of a run an operator aborted. */
export const ABORTED_BY_OPERATOR = 'AbortedByOperator';

export interface AwaitingOperator {
  readonly step: string;
  readonly error: string;
  readonly since: string;
  readonly reminders: number;
}
