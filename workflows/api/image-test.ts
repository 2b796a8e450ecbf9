/** The messages an image test run (workflows/image-test.ts) takes and answers. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { HostReport } from '../../activities/image-test.js';
import type { JobStatus } from '../../common/compose-testing.js';

export interface ImageTestStatus {
  readonly jobId: number;
  readonly image: string;
  readonly provider: string;
  readonly status: JobStatus;
  readonly host: string | null;
  readonly attempt: number;
  readonly reason: string | null;
  readonly failedCommand: { readonly line: number; readonly command: string; readonly exitCode: number | null } | null;
}

export const imageTestStatusQuery = defineQuery<ImageTestStatus>('status');
/** Sent by the image host when an attempt starts; fire and forget, as the host must not wait on the run. */
export const attemptStartedSignal = defineSignal<[HostReport]>('attemptStarted');
