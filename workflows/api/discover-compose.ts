/** The query a compose discovery run (workflows/discover-compose.ts) answers. */
import { defineQuery } from '@temporalio/workflow';

export type DiscoveryStage = 'fetching-metadata' | 'recording' | 'done' | 'failed';

export interface DiscoverComposeStatus {
  readonly composeId: string;
  readonly stage: DiscoveryStage;
  readonly release: string | null;
  readonly imageCount: number | null;
  readonly error: string | null;
}

export const discoverComposeStatusQuery = defineQuery<DiscoverComposeStatus>('status');
