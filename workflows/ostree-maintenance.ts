/**
 * OSTree maintenance, as the releng SOP's merge/tag/archive/GC. Each run:
 *
 * 1. plan   - read the repository as it is and decide every change; refused (typed, final) before
 *             anything changes: a commit that is not there or does not move the ref forward, an
 *             alias over a real ref, a ref no prune policy covers
 * 2. apply  - carry the plan out (skipped in a dry run: the plan, or for a prune what
 *             `ostree prune --no-prune` says of it, is the result), then the summary, signed when
 *             the worker has a key
 *
 * - ostreePromote  `ostree reset REF COMMIT` (two-week releases move the stable ref forward)
 * - ostreeAlias    `ostree refs --alias --create=ALIAS REF` (branching, GA)
 * - ostreeArchive  `ostree pull-local --depth=-1` of a release's refs into the archive, then fsck,
 *                  every ref's commit and history compared, every signature verified there
 * - ostreePrune    every ref by its policy in one `ostree prune` (the `ostree-prune` Schedule runs it weekly)
 *
 * Every apply step is idempotent: a retry after a crash finishes the job and reports it once.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import { failureText } from '../common/failure-text.js';
import {
  describeAliasPlan, describeArchivePlan, describePromotePlan, describePrunePlan, OSTREE_ARCHIVE_UNVERIFIED, OSTREE_REFUSALS,
  type AliasOutcome, type AliasPlan, type ArchiveOutcome, type ArchivePlan, type PromoteOutcome, type PromotePlan, type PruneReport,
} from '../common/ostree-maintenance.js';
import type { PruneRule } from '../common/ostree-policy.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { ostreeMaintenanceStatusQuery, type OstreeMaintenanceStatus, type OstreeOperation } from './api/ostree.js';

// The repository is on this worker's disk: what fails and passes on a retry is another ostree
// holding the repository's lock (it waits 30 s) or a disk filling up; a refusal never passes.
const LOCAL_RETRY = { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: [...OSTREE_REFUSALS, OSTREE_ARCHIVE_UNVERIFIED] };

const { planOstreePromote, planOstreeAlias, planOstreeArchive, planOstreePrune } = proxyActivities<RelengActivities>({
  // Reads refs and their histories (`ostree log`), nothing more.
  startToCloseTimeout: '10 minutes',
  retry: LOCAL_RETRY,
  summary: 'read the OSTree repository and plan',
});

const { promoteOstreeRef, aliasOstreeRef } = proxyActivities<RelengActivities>({
  // One ref written, then the summary regenerated (and signed).
  startToCloseTimeout: '10 minutes',
  retry: LOCAL_RETRY,
  summary: 'write the ref, regenerate the summary',
});

const { archiveOstreeRefs } = proxyActivities<RelengActivities>({
  // A release's whole history copied with checksums verified, then fsck: hours on Fedora's repository.
  startToCloseTimeout: '12 hours',
  // The activity beats every 5 s while ostree works: a dead worker is noticed within this, and pull-local resumes elsewhere.
  heartbeatTimeout: '1 minute',
  retry: LOCAL_RETRY,
  summary: 'pull-local into the archive, fsck, compare, verify signatures',
});

const { dryRunOstreePrune, pruneOstreeRepo } = proxyActivities<RelengActivities>({
  // ostree walks every object of the repository.
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: LOCAL_RETRY,
  summary: 'ostree prune by policy',
});

export interface OstreePromoteInput {
  readonly ref: string;
  /** A checksum or an unambiguous prefix (8+ hex digits). */
  readonly commit: string;
  /** Move even to a commit that does not descend from the ref's (a rollback), or create the ref. */
  readonly force?: boolean;
  readonly dryRun?: boolean;
}

export interface OstreeAliasInput {
  readonly alias: string;
  readonly target: string;
  readonly dryRun?: boolean;
}

export interface OstreeArchiveInput {
  /** `fedora/29/` */
  readonly prefix: string;
  readonly dryRun?: boolean;
}

export interface OstreePruneInput {
  /** ostree.prune.policies as the starter read them: the run's history says which policies it applied. */
  readonly policies: readonly PruneRule[];
  readonly dryRun?: boolean;
}

/** A dry run's result is its plan; a real run's adds what was done. */
export interface OstreeMaintenanceResult<Plan, Outcome> {
  readonly dryRun: boolean;
  readonly plan: Plan;
  readonly outcome: Outcome | null;
}

interface Maintenance<Plan extends NonNullable<OstreeMaintenanceStatus['plan']>, Result> {
  readonly operation: OstreeOperation;
  readonly dryRun: boolean;
  readonly plan: () => Promise<Plan>;
  readonly words: (plan: Plan) => string;
  /** The apply step's name, as the status and the Web UI show it. */
  readonly applyStage: string;
  readonly apply: (plan: Plan) => Promise<Result>;
  readonly dryRunResult: (plan: Plan) => Promise<Result>;
}

/** Plan, then apply (or not, in a dry run), with the stage in the status, search attributes and current details. */
async function runMaintenance<Plan extends NonNullable<OstreeMaintenanceStatus['plan']>, Result>(run: Maintenance<Plan, Result>): Promise<Result> {
  let status: OstreeMaintenanceStatus = { operation: run.operation, dryRun: run.dryRun, stage: 'planning', plan: null, error: null };
  setHandler(ostreeMaintenanceStatusQuery, () => status, { description: 'Stage, the plan (what changes), and why it was refused or failed.' });
  const enter = (stage: string, details: string) => {
    status = { ...status, stage };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    setCurrentDetails(`**${stage}**${run.dryRun ? ' (dry run)' : ''}: ${details}`);
  };
  try {
    enter('planning', `reading the OSTree repository to ${run.operation}`);
    const plan = await run.plan();
    status = { ...status, plan };
    if (run.dryRun) {
      enter('dry run', run.words(plan));
      const result = await run.dryRunResult(plan);
      enter('done', 'dry run: nothing was changed');
      return result;
    }
    enter(run.applyStage, run.words(plan));
    const result = await run.apply(plan);
    enter('done', run.words(plan));
    return result;
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : null;
    const refusalType = cause?.type && OSTREE_REFUSALS.includes(cause.type) ? cause.type : null;
    status = { ...status, error: failureText(err) };
    enter(refusalType ? 'refused' : 'failed', failureText(err));
    // The run fails with the refusal's own type and words, so a starter (the CLI) can tell a refusal from a fault.
    if (refusalType) throw ApplicationFailure.create({ message: failureText(err), type: refusalType, nonRetryable: true });
    throw err;
  }
}

/** An operation whose dry run is its plan: the result is the plan and, in a real run, the outcome of applying it. */
function planThenApply<Plan extends NonNullable<OstreeMaintenanceStatus['plan']>, Outcome>(
  run: Omit<Maintenance<Plan, unknown>, 'apply' | 'dryRunResult'> & { readonly apply: (plan: Plan) => Promise<Outcome> },
): Promise<OstreeMaintenanceResult<Plan, Outcome>> {
  return runMaintenance<Plan, OstreeMaintenanceResult<Plan, Outcome>>({
    ...run,
    apply: async (plan) => ({ dryRun: false, plan, outcome: await run.apply(plan) }),
    dryRunResult: (plan) => Promise.resolve({ dryRun: true, plan, outcome: null }),
  });
}

/** Moves a ref to a commit, forward only unless forced (Fedora's two-week release: `ostree reset` of the stable ref, `summary -u`). */
export function ostreePromote(input: OstreePromoteInput): Promise<OstreeMaintenanceResult<PromotePlan, PromoteOutcome>> {
  return planThenApply({
    operation: 'promote', dryRun: input.dryRun ?? false,
    plan: () => planOstreePromote({ ref: input.ref, commit: input.commit, force: input.force ?? false }),
    words: describePromotePlan,
    applyStage: 'moving the ref',
    apply: (plan) => promoteOstreeRef(plan),
  });
}

/** Makes ALIAS an alias of a ref (`ostree refs --alias --create`), as branching and GA do; exactly that alias already is a no-op. */
export function ostreeAlias(input: OstreeAliasInput): Promise<OstreeMaintenanceResult<AliasPlan, AliasOutcome>> {
  return planThenApply({
    operation: 'alias', dryRun: input.dryRun ?? false,
    plan: () => planOstreeAlias({ alias: input.alias, target: input.target }),
    words: describeAliasPlan,
    applyStage: 'creating the alias',
    apply: (plan) => aliasOstreeRef(plan),
  });
}

/** Copies a release's refs with their whole history into the archive repository and proves them there (fsck, commits, signatures). */
export function ostreeArchive(input: OstreeArchiveInput): Promise<OstreeMaintenanceResult<ArchivePlan, ArchiveOutcome>> {
  return planThenApply({
    operation: 'archive', dryRun: input.dryRun ?? false,
    plan: () => planOstreeArchive({ prefix: input.prefix }),
    words: describeArchivePlan,
    applyStage: 'archiving and verifying',
    apply: (plan) => archiveOstreeRefs(plan),
  });
}

/**
 * Prunes every ref by its policy (fedora-ostree-pruner), refusing when a ref has none; reports per
 * ref the commits before, after and removed, the objects deleted and the bytes freed. A dry run
 * reports the same from `ostree prune --no-prune`.
 */
export function ostreePrune(input: OstreePruneInput): Promise<PruneReport> {
  // Policies are measured from the run's start (workflow time: a retry or a replay sees the same).
  const at = new Date().toISOString();
  const prune = { policies: input.policies, at };
  return runMaintenance({
    operation: 'prune', dryRun: input.dryRun ?? false,
    plan: () => planOstreePrune(prune),
    words: describePrunePlan,
    applyStage: 'pruning',
    apply: () => pruneOstreeRepo(prune),
    dryRunResult: () => dryRunOstreePrune(prune),
  });
}
