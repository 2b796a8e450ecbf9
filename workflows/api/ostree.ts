/** The query the OSTree maintenance runs (workflows/ostree-maintenance.ts) answer. */
import { defineQuery } from '@temporalio/workflow';
import type { AliasPlan, ArchivePlan, PromotePlan, PrunePlan } from '../../common/ostree-maintenance.js';

export type OstreeOperation = 'promote' | 'alias' | 'archive' | 'prune';

export interface OstreeMaintenanceStatus {
  readonly operation: OstreeOperation;
  readonly dryRun: boolean;
  /** `planning`, then the operation's step (`moving the ref`, `pulling into the archive`, ...), then `done`, `refused` or `failed`. */
  readonly stage: string;
  /** What the run will change (or, in a dry run, would), once planned. */
  readonly plan: PromotePlan | AliasPlan | ArchivePlan | PrunePlan | null;
  /** Why it was refused or failed. */
  readonly error: string | null;
}

export const ostreeMaintenanceStatusQuery = defineQuery<OstreeMaintenanceStatus>('status');
