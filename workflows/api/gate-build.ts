/** The messages a gating run (workflows/gate-build.ts) takes and answers. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GateResult, GateVerdict, GreenwaveVerdict } from '../gating-policy.js';

export interface BuildTagged {
  readonly tag: string;
  readonly owner: string;
  readonly msgId: string;
}

export type GateStage = 'checking-build' | 'awaiting-tag' | 'awaiting-results' | 'moving' | 'notifying' | 'done' | 'failed';

export interface GateBuildStatus {
  readonly nvr: string;
  readonly lane: string;
  readonly stage: GateStage;
  readonly verdict: GateVerdict;
  readonly results: readonly GateResult[];
  readonly destination: string | null;
}

export const buildTaggedSignal = defineSignal<[BuildTagged]>('buildTagged');
export const testResultSignal = defineSignal<[GateResult]>('testResult');
export const greenwaveDecisionSignal = defineSignal<[GreenwaveVerdict]>('greenwaveDecision');
export const gateBuildStatusQuery = defineQuery<GateBuildStatus>('status');

/** The failure type of a gate whose build never entered the gate tag. */
export const GATE_NEVER_ENTERED = 'GateNeverEntered';
