/** The query the release lifecycle runs (workflows/release-branch.ts, release-eol.ts) answer. */
import { defineQuery } from '@temporalio/workflow';
import type { BranchPlan } from '../../common/release-branch.js';
import type { EolPlan } from '../../common/release-eol.js';
import type { CompensationReport } from './push.js';
import type { AwaitingOperator } from './operator.js';

export interface ReleaseSagaStatus {
  readonly release: string;
  /** `planning`, a step's name, `announce`, `done`, `compensating` or `failed`. */
  readonly stage: string;
  readonly plan: BranchPlan | EolPlan | null;
  /** Each step that ran, with what it changed. */
  readonly steps: readonly { readonly step: string; readonly changed: readonly string[] }[];
  readonly skipped: readonly string[];
  readonly awaitingOperator: readonly AwaitingOperator[];
  readonly compensation: CompensationReport | null;
}

export const releaseSagaStatusQuery = defineQuery<ReleaseSagaStatus>('status');

/** The failure type of a lifecycle run that failed after changing something (the report is in its details). */
export const RELEASE_SAGA_FAILED = 'ReleaseSagaFailed';
