/** The query and update of a two-week release run (workflows/two-week.ts). */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { TwoWeekChoice } from '../../common/two-week.js';

export interface TwoWeekApproval {
  readonly approver: string;
  /** The compose the approver tested; refused when the run releases another. */
  readonly composeId: string;
  readonly comment?: string;
}

export interface TwoWeekStatus {
  readonly stream: string;
  /** choosing, approval, gathering, signing, ostree, sync, announce, done, or why nothing was released. */
  readonly stage: string;
  readonly choice: TwoWeekChoice | null;
  readonly approvals: readonly (TwoWeekApproval & { readonly at: string })[];
  /** When the approval window closes, while it is open. */
  readonly approvalUntil: string | null;
  readonly alert: { readonly reason: string; readonly detail: string } | null;
}

export const twoWeekStatusQuery = defineQuery<TwoWeekStatus>('status');

/** An operator's approval of the compose a run is about to release (refused when nothing waits for one). */
export const approveTwoWeekReleaseUpdate = defineUpdate<{ readonly approvals: number; readonly needed: number }, [TwoWeekApproval]>('approveTwoWeekRelease');

/** The failure type an approval is refused with (the update's validator; the run goes on). */
export const APPROVAL_REFUSED = 'ApprovalRefused';
