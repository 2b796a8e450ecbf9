/** The query a push run (workflows/push.ts) answers, and what a failed push reports. */
import { defineQuery } from '@temporalio/workflow';
import type { ImpactReport } from '../../activities/pdc.js';
import type { PolicyDecision } from '../../common/push-policy.js';
import type { PushCompleteMessage } from '../../common/schemas/outgoing.js';
import type { AwaitingOperator } from './operator.js';

export type PushStage = 'batch' | 'mash' | 'impact' | 'compose' | 'test' | 'sign' | 'sync' | 'announce' | 'done' | 'compensating' | 'failed';

/** An affected artifact as the status shows it (its reasons are in `impact`). */
export interface ArtifactSummary {
  readonly artifact: string;
  readonly kind: string;
  readonly builds: number;
  readonly reasons: readonly string[];
}

/** What a failed or aborted push undid, what it could not, and why it failed. */
export interface CompensationReport {
  readonly failure: string;
  readonly undone: readonly string[];
  readonly notUndone: readonly string[];
}

export interface PushStatus {
  readonly stage: PushStage;
  readonly updates: number;
  readonly builds: number;
  /** Builds in the target tag after a batch's moves all succeeded. */
  readonly moved: number;
  readonly impact: { readonly affected: readonly ArtifactSummary[]; readonly unchanged: ImpactReport['unchanged'] } | null;
  readonly compose: { readonly composeId: string; readonly location: string } | null;
  readonly policy: PolicyDecision | null;
  readonly artifacts: PushCompleteMessage['artifacts'];
  /** The failed steps the run waits on an operator for. */
  readonly awaitingOperator: readonly AwaitingOperator[];
  /** Steps an operator chose to skip, and why. */
  readonly skipped: readonly string[];
  /** What was undone after the push failed or was aborted (the report's `undone`). */
  readonly compensated: readonly string[];
  /** The whole report once compensation ran. */
  readonly compensation: CompensationReport | null;
  /** The repository Koji wrote for the target tag, fetched to the releng host. */
  readonly repository: { readonly tag: string; readonly key: string; readonly kojiTask: number; readonly repoId: number; readonly packages: number } | null;
}

export const pushStatusQuery = defineQuery<PushStatus>('status');

/** The failure type of a push that failed or was aborted; its details hold the CompensationReport. */
export const PUSH_FAILED = 'PushFailed';
