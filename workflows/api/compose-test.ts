/** The messages a compose test run (workflows/compose-test.ts) takes and answers. */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type ComposeTestStage = 'fetching-metadata' | 'planning' | 'testing' | 'reporting' | 'done' | 'aborted' | 'failed';

export interface ComposeTestStatus {
  readonly composeId: string;
  readonly stage: ComposeTestStage;
  readonly release: string | null;
  readonly jobs: number;
  readonly finished: { readonly success: number; readonly failed: number; readonly error: number; readonly aborted: number };
  readonly supersededBy: string | null;
  readonly reason: string | null;
}

export const composeTestStatusQuery = defineQuery<ComposeTestStatus>('status');
/** A newer compose of the same stream finished: stop, abort the jobs, tear the VMs down. Fire and forget: the sender does not wait on the older run. */
export const supersedeSignal = defineSignal<[{ by: string }]>('supersede');
