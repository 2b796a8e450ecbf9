/**
 * What a run is waiting for, in one shape for every workflow: `relengotron runs show` prints it,
 * and an operator decision that does not fit is refused with it.
 */
import { defineQuery } from '@temporalio/workflow';

export interface Waiting {
  /** In words: "Koji to tag bash-5.3-1.fc45 into f45-updates-testing-pending". */
  readonly for: string;
  /** When the wait began (ISO 8601), when known. */
  readonly since: string | null;
  /** When the wait gives up (ISO 8601); null: it waits until answered. */
  readonly until: string | null;
  /** How to answer it, when a person can. */
  readonly answer: string | null;
}

export const waitingForQuery = defineQuery<readonly Waiting[]>('waitingFor');

