/** The query a release branch run (workflows/release-branch.ts) answers. */
import { defineQuery } from '@temporalio/workflow';
import type { BranchPlan } from '../../common/release-branch.js';
import type { CompensationReport } from './push.js';
import type { AwaitingOperator } from './operator.js';

export type BranchStage = 'planning' | 'koji-tags' | 'koji-inheritance' | 'koji-targets' | 'bodhi' | 'announce' | 'done' | 'compensating' | 'failed';

export interface ReleaseBranchStatus {
  readonly release: string;
  readonly stage: BranchStage;
  readonly plan: BranchPlan | null;
  /** Each step that ran, with what it changed. */
  readonly steps: readonly { readonly step: string; readonly changed: readonly string[] }[];
  readonly skipped: readonly string[];
  readonly awaitingOperator: readonly AwaitingOperator[];
  readonly compensation: CompensationReport | null;
}

export const releaseBranchStatusQuery = defineQuery<ReleaseBranchStatus>('status');

/** The failure type of a branch that failed or was aborted after changing something. */
export const BRANCH_FAILED = 'BranchFailed';
