/**
 * OSTree maintenance as Fedora's release engineering SOP does it (merge/tag/archive/GC): moving a
 * ref to a commit (two-week releases), aliasing a ref (branching, GA), archiving a release's refs,
 * and pruning by per-ref policy. Each operation is planned from the repository as it is, then
 * applied from the plan; a dry run is the plan. Pure: the shapes and their words, read by the
 * activities (activities/ostree-lifecycle.ts), the workflows and the CLI.
 */
import type { PrunePolicy } from './ostree-policy.js';
import { UNSAFE_PATH } from './safe-names.js';

/** Failure types: a refusal is final (non-retryable) and comes before any change. */
export const OSTREE_PROMOTE_REFUSED = 'OstreePromoteRefused';
export const OSTREE_ALIAS_REFUSED = 'OstreeAliasRefused';
export const OSTREE_ARCHIVE_REFUSED = 'OstreeArchiveRefused';
export const OSTREE_PRUNE_REFUSED = 'OstreePruneRefused';
/** Every refusal, a name from outside that breaks its grammar (UnsafePath) among them. */
export const OSTREE_REFUSALS: readonly string[] = [OSTREE_PROMOTE_REFUSED, OSTREE_ALIAS_REFUSED, OSTREE_ARCHIVE_REFUSED, OSTREE_PRUNE_REFUSED, UNSAFE_PATH];
/** The archive was written but does not verify (fsck, a commit or a signature differs): final too, an operator looks. */
export const OSTREE_ARCHIVE_UNVERIFIED = 'OstreeArchiveUnverified';

/** Where the archive repository lives under the archive root (push.archiveRoot), beside `releases/` and `updates/`. */
export const OSTREE_ARCHIVE_REPO = 'ostree/repo';

/** One commit of a ref's history, newest first in lists. */
export interface OstreeCommitEntry {
  readonly commit: string;
  /** The commit's own timestamp (ISO 8601, UTC), what `--keep-younger-than` compares. */
  readonly timestamp: string;
  readonly subject: string;
}

/** How the summary was regenerated: signed with the worker's key, or unsigned (no key configured). */
export type SummaryUpdate = 'signed' | 'unsigned';

/** A commit as people read it: its first 12 hex digits. */
export const shortCommit = (commit: string | null): string => (commit ? commit.slice(0, 12) : 'nothing');

// ---- promote ------------------------------------------------------------------------------------

export interface PromotePlan {
  readonly repo: string;
  readonly ref: string;
  /** The full checksum the ref moves to. */
  readonly commit: string;
  readonly subject: string;
  /** Where the ref points now; null when it does not exist yet. */
  readonly from: string | null;
  /**
   * `same`: nothing to do; `forward`: the commit descends from the ref's (a two-week release
   * moves the stable ref forward); `not-descendant`: a rollback or a jump to another line (needs
   * --force); `new-ref`: the ref does not exist (needs --force).
   */
  readonly relation: 'same' | 'forward' | 'not-descendant' | 'new-ref';
  /** Commits from the ref's commit to the new one, when forward. */
  readonly commitsForward: number | null;
  readonly force: boolean;
}

export interface PromoteOutcome {
  readonly plan: PromotePlan;
  readonly moved: boolean;
  readonly summary: SummaryUpdate;
}

export function describePromotePlan(plan: PromotePlan): string {
  const target = `${shortCommit(plan.commit)} (${plan.subject || 'no subject'})`;
  switch (plan.relation) {
    case 'same':
      return `${plan.ref} is at ${target} already: nothing to move.`;
    case 'forward':
      return `move ${plan.ref} forward from ${shortCommit(plan.from)} to ${target}, ${plan.commitsForward} commit(s) ahead; then regenerate the summary.`;
    case 'not-descendant':
      return `move ${plan.ref} from ${shortCommit(plan.from)} to ${target}, which does not descend from it (forced); then regenerate the summary.`;
    case 'new-ref':
      return `create ${plan.ref} at ${target} (forced: it did not exist); then regenerate the summary.`;
  }
}

export function describePromoteOutcome(outcome: PromoteOutcome): string {
  if (!outcome.moved) return `${outcome.plan.ref} stays at ${shortCommit(outcome.plan.commit)}; summary regenerated (${outcome.summary}).`;
  return `${outcome.plan.ref} now at ${outcome.plan.commit} (was ${outcome.plan.from ?? 'absent'}); summary regenerated (${outcome.summary}).`;
}

// ---- alias --------------------------------------------------------------------------------------

export interface AliasPlan {
  readonly repo: string;
  readonly alias: string;
  readonly target: string;
  /** The commit the alias will resolve to (the target's). */
  readonly commit: string;
  /** `create`, or `none` when the alias exists and is exactly this one. */
  readonly action: 'create' | 'none';
}

export interface AliasOutcome {
  readonly plan: AliasPlan;
  readonly created: boolean;
  readonly summary: SummaryUpdate;
}

export function describeAliasPlan(plan: AliasPlan): string {
  return plan.action === 'none'
    ? `${plan.alias} is an alias of ${plan.target} already (${shortCommit(plan.commit)}): nothing to do.`
    : `create ${plan.alias} as an alias of ${plan.target} (resolving to ${shortCommit(plan.commit)}); then regenerate the summary.`;
}

export function describeAliasOutcome(outcome: AliasOutcome): string {
  return `${outcome.plan.alias} -> ${outcome.plan.target}${outcome.created ? ' created' : ' already there'}; summary regenerated (${outcome.summary}).`;
}

// ---- archive ------------------------------------------------------------------------------------

export interface ArchiveRefPlan {
  readonly ref: string;
  readonly commit: string;
  /** Commits in the ref's history in the source repository (all of them are copied). */
  readonly commits: number;
  /** The ref's commit in the archive now, or null. */
  readonly archived: string | null;
  /** `copy` (absent), `update` (the archive's commit is an ancestor), `none` (archived already); `alias` is recreated as one. */
  readonly action: 'copy' | 'update' | 'none' | 'alias';
  /** For an alias: its target (also under the prefix). */
  readonly aliasOf: string | null;
}

export interface ArchivePlan {
  readonly repo: string;
  readonly archiveRepo: string;
  /** `fedora/29/` */
  readonly prefix: string;
  readonly refs: readonly ArchiveRefPlan[];
  /** True when a signing key is configured: every signed commit's signature is checked in the archive. */
  readonly checkSignatures: boolean;
}

export interface ArchiveOutcome {
  readonly plan: ArchivePlan;
  /** What `ostree fsck` said of the archive (its last line). */
  readonly fsck: string;
  /** Every ref, its commit and history in the archive, identical to the source's. */
  readonly verified: readonly { readonly ref: string; readonly commit: string; readonly commits: number }[];
  /** Commits with a good signature by the key in the source, and how many of them verify in the archive (all, or the run fails). */
  readonly signatures: { readonly signed: number; readonly verified: number } | null;
  readonly summary: SummaryUpdate;
}

export function describeArchivePlan(plan: ArchivePlan): string {
  const lines = [`archive ${plan.refs.length} ref(s) under ${plan.prefix} into ${plan.archiveRepo} (ostree pull-local --depth=-1 --untrusted --disable-verify-bindings: full history, detached signatures kept):`];
  for (const r of plan.refs) {
    const what =
      r.action === 'alias' ? `alias of ${r.aliasOf}` :
      r.action === 'none' ? `archived already at ${shortCommit(r.commit)}` :
      r.action === 'update' ? `update ${shortCommit(r.archived)} -> ${shortCommit(r.commit)} (${r.commits} commits)` :
      `copy ${shortCommit(r.commit)} with ${r.commits} commit(s)`;
    lines.push(`  ${r.ref}: ${what}`);
  }
  lines.push(`then ostree fsck on the archive, every ref's commit and history compared${plan.checkSignatures ? ', every signed commit verified there' : ''}, the archive's summary regenerated.`);
  return lines.join('\n');
}

export function describeArchiveOutcome(outcome: ArchiveOutcome): string {
  const lines = [`archived ${outcome.verified.length} ref(s) in ${outcome.plan.archiveRepo}: ${outcome.fsck}`];
  for (const v of outcome.verified) lines.push(`  ${v.ref}: ${shortCommit(v.commit)}, ${v.commits} commit(s), identical to the source`);
  lines.push(outcome.signatures ? `  signatures: ${outcome.signatures.verified} of ${outcome.signatures.signed} signed commit(s) verify in the archive` : '  signatures: not checked (no signing key configured)');
  lines.push(`  summary regenerated (${outcome.summary})`);
  return lines.join('\n');
}

// ---- prune --------------------------------------------------------------------------------------

/**
 * How many removed commits a report names per ref (the count is always exact). A report travels in
 * Temporal payloads (2 MiB at most): Fedora's repository has some 200 refs with hundreds of
 * commits each, so histories are counted, never listed.
 */
export const REMOVED_COMMITS_LISTED = 20;

export interface PruneRefReport {
  readonly ref: string;
  readonly policy: PrunePolicy;
  /** The rule that decided, by its place in the list (1-based) and in words: `2: fedora/** keep-days 90`. */
  readonly rule: string;
  /** Commits in the ref's history (what `ostree log` shows) before the run and after it. */
  readonly before: number;
  readonly after: number;
  /** The ref's commit after the run; null when it was deleted. */
  readonly tip: string | null;
  /** Commits of its history that left the repository (one another ref keeps is not removed). */
  readonly removed: number;
  /** The newest of them, at most REMOVED_COMMITS_LISTED. */
  readonly removedCommits: readonly string[];
  readonly deleted: boolean;
}

export interface PruneReport {
  readonly dryRun: boolean;
  readonly repo: string;
  /** The time policies were measured from (keep-days: younger than this minus N days). */
  readonly at: string;
  readonly refs: readonly PruneRefReport[];
  /** Aliases follow their target and have no policy of their own (as fedora-ostree-pruner skips them). */
  readonly aliases: readonly { readonly alias: string; readonly target: string }[];
  /** The one `ostree prune` that carries out every policy (after the `delete` refs are deleted). */
  readonly command: string;
  /**
   * Loose objects (commit, dirtree, dirmeta, file) before and after, how many went, and the bytes
   * the files removed from `objects/` held (a removed commit's detached signature included).
   */
  readonly objects: { readonly before: number; readonly after: number; readonly deleted: number; readonly bytesFreed: number };
  /** ostree's own last line ("Deleted 9 objects, 676 bytes freed" or "Would delete: ..."). */
  readonly ostreeSaid: string;
  /** null in a dry run. */
  readonly summary: SummaryUpdate | null;
}

/** What a prune will do, decided before anything is counted or removed: what the plan activity checks first. */
export type PrunePlan = Pick<PruneReport, 'repo' | 'at' | 'refs' | 'aliases' | 'command'>;

/** 1.5 KiB style, exact bytes beside it. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}

export function describePrunePlan(plan: PrunePlan): string {
  const lines = [`prune ${plan.repo} by policy at ${plan.at}:`];
  for (const r of plan.refs) {
    const what = r.deleted ? `delete the ref (${r.before} commit(s))` : `keep ${r.after} of ${r.before} commit(s)`;
    const more = r.removed > r.removedCommits.length ? ` and ${r.removed - r.removedCommits.length} older` : '';
    lines.push(`  ${r.ref} [${r.rule}]: ${what}${r.removed ? `; remove ${r.removedCommits.map(shortCommit).join(', ')}${more}` : ''}`);
  }
  for (const a of plan.aliases) lines.push(`  ${a.alias}: alias of ${a.target}, follows it`);
  lines.push(`  ${plan.command}`);
  return lines.join('\n');
}

export function describePruneReport(report: PruneReport): string {
  const removed = report.refs.reduce((n, r) => n + r.removed, 0);
  return [
    describePrunePlan(report),
    `${report.dryRun ? 'would remove' : 'removed'} ${removed} commit(s) and ${report.objects.deleted} of ${report.objects.before} objects, ` +
      `${report.dryRun ? 'freeing' : 'freed'} ${formatBytes(report.objects.bytesFreed)} (ostree: ${report.ostreeSaid})` +
      (report.summary ? `; summary regenerated (${report.summary})` : ''),
  ].join('\n');
}
