/**
 * OSTree maintenance with the real `ostree`, as Fedora's release engineering SOP does it: a ref
 * moved to a commit (`ostree reset`, two-week releases), a ref aliased (`refs --alias --create`,
 * branching and GA), a release's refs archived (`pull-local` with full history, then verified),
 * and the repository pruned by per-ref policy (fedora-ostree-pruner). Every operation is planned
 * from the repository as it is and applied from the plan; applying twice changes nothing more
 * (a retry after a crash finishes the job), and a refusal comes before any change.
 *
 * Names from outside are checked first: refs by OSTree's grammar (common/safe-names.ts), the
 * archive's path inside the archive root (safe-path.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, lstat, mkdir, mkdtemp, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  OSTREE_ALIAS_REFUSED, OSTREE_ARCHIVE_REFUSED, OSTREE_ARCHIVE_REPO, OSTREE_ARCHIVE_UNVERIFIED, OSTREE_PROMOTE_REFUSED, OSTREE_PRUNE_REFUSED, shortCommit,
  type AliasOutcome, type AliasPlan, type ArchiveOutcome, type ArchivePlan, type ArchiveRefPlan, type OstreeCommitEntry, type PromoteOutcome,
  type PromotePlan, type PrunePlan, type PruneRefReport, type PruneReport, type SummaryUpdate, REMOVED_COMMITS_LISTED,
} from '../common/ostree-maintenance.js';
import { describeRule, PruneRuleSchema, ruleFor, type PruneRule } from '../common/ostree-policy.js';
import { ostreeRefProblem, UNSAFE_PATH } from '../common/safe-names.js';
import { ensureRepo, OstreeError, ostree, refCommit, updateSummary } from './ostree.js';
import { pathInside } from './safe-path.js';
import { ostreeSignatureStatus, type SigningKey } from './signing.js';

export interface OstreeLifecycleDeps {
  /** The repository pushes commit to (push.ostreeRepo). */
  readonly repo: string;
  /** The archive root (push.archiveRoot); the archive repository is `<root>/ostree/repo`. */
  readonly archiveRoot: string;
  /** When set, summaries are signed with it and archived signatures checked against it. */
  readonly signingKey: SigningKey | undefined;
}

export interface PromoteInput {
  readonly ref: string;
  /** A commit checksum, or an unambiguous prefix of one (at least 8 hex digits). */
  readonly commit: string;
  /** Move even when the commit does not descend from the ref's (a rollback), or create the ref. */
  readonly force: boolean;
}

export interface AliasInput {
  readonly alias: string;
  readonly target: string;
}

export interface ArchiveInput {
  /** The release's refs: `fedora/29/` (or one ref). */
  readonly prefix: string;
}

export interface PruneInput {
  /** The policy list (ostree.prune.policies), first match wins; checked again here. */
  readonly policies: readonly PruneRule[];
  /** The time policies are measured from (ISO 8601): the run's start, so a retry decides exactly as the first attempt. */
  readonly at: string;
}

export interface OstreeLifecycleActivities {
  planOstreePromote(input: PromoteInput): Promise<PromotePlan>;
  promoteOstreeRef(plan: PromotePlan): Promise<PromoteOutcome>;
  planOstreeAlias(input: AliasInput): Promise<AliasPlan>;
  aliasOstreeRef(plan: AliasPlan): Promise<AliasOutcome>;
  planOstreeArchive(input: ArchiveInput): Promise<ArchivePlan>;
  archiveOstreeRefs(plan: ArchivePlan): Promise<ArchiveOutcome>;
  planOstreePrune(input: PruneInput): Promise<PrunePlan>;
  /** The prune as `ostree prune --no-prune` sees it, on a copy of the refs sharing the repository's objects: exactly what pruneOstreeRepo would remove. */
  dryRunOstreePrune(input: PruneInput): Promise<PruneReport>;
  pruneOstreeRepo(input: PruneInput): Promise<PruneReport>;
}

const refused = (type: string, message: string) => ApplicationFailure.nonRetryable(`${message}; nothing was changed`, type);

function checkedRef(ref: string, what: string): string {
  const problem = ostreeRefProblem(ref);
  if (problem) throw ApplicationFailure.nonRetryable(`${what}: ${problem}; nothing is written or removed for it`, UNSAFE_PATH);
  return ref;
}

// ---- reading a repository ----------------------------------------------------------------------

/** Every ref (`ostree refs`: heads, remotes as `remote:ref`, aliases too), sorted. */
async function listRefs(repo: string): Promise<string[]> {
  if (!existsSync(join(repo, 'config'))) return [];
  return (await ostree(['refs', `--repo=${repo}`])).split('\n').filter(Boolean).sort();
}

/** Alias → the ref it points at (`ostree refs --alias`: `fedora/29/x86_64/iot -> fedora/29/x86_64/updates/iot`). */
async function listAliases(repo: string): Promise<Map<string, string>> {
  if (!existsSync(join(repo, 'config'))) return new Map();
  const lines = (await ostree(['refs', `--repo=${repo}`, '--alias'])).split('\n');
  return new Map(lines.map((line) => /^(\S+) -> (\S+)$/.exec(line)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
}

/**
 * A commit's history as `ostree log` shows it, newest first, ending where the parent is missing
 * (pruned or never pulled). Throws an OstreeError when the commit or ref does not exist.
 */
async function historyOf(repo: string, rev: string): Promise<OstreeCommitEntry[]> {
  const log = await ostree(['log', `--repo=${repo}`, rev]);
  return log.split(/^(?=commit [0-9a-f]{64}$)/m).flatMap((block) => {
    const commit = /^commit ([0-9a-f]{64})$/m.exec(block)?.[1];
    if (!commit) return [];
    // ostree prints `Date:  2026-01-04 00:00:00 +0000` (UTC); the offset is read all the same.
    const date = /^Date:\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)$/m.exec(block);
    if (!date) throw new OstreeError(`ostree log ${rev}: no date for commit ${commit}`);
    const timestamp = new Date(`${date[1]}T${date[2]}${date[3]}:${date[4]}`).toISOString();
    const subject = block.split('\n').find((line) => /^ {4}\S/.test(line))?.trim() ?? '';
    return [{ commit, timestamp, subject }];
  });
}

/** Keeps a long step from looking like a dead worker: the same details every few seconds (a retry reads the last ones). */
function keepBeating(details: unknown): () => void {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return () => undefined; // not in an activity (a test calling the function directly)
  }
  context.heartbeat(details);
  const timer = setInterval(() => context.heartbeat(details), 5000);
  return () => clearInterval(timer);
}

/** What the last attempt of this activity recorded with its heartbeats (undefined on a first attempt, or outside an activity). */
function lastHeartbeat(): unknown {
  try {
    return Context.current().info.heartbeatDetails;
  } catch {
    return undefined;
  }
}

async function beatingWhile<T>(details: unknown, work: () => Promise<T>): Promise<T> {
  const stop = keepBeating(details);
  try {
    return await work();
  } finally {
    stop();
  }
}

async function regenerateSummary(repo: string, key: SigningKey | undefined): Promise<SummaryUpdate> {
  await updateSummary(repo, key);
  return key ? 'signed' : 'unsigned';
}

// ---- objects on disk ----------------------------------------------------------------------------

/** What `ostree prune` counts as objects: loose metadata and content files (a detached `.commitmeta` is not one). */
const OBJECT_SUFFIXES = new Set(['commit', 'dirtree', 'dirmeta', 'file', 'filez', 'tombstone-commit', 'payload-link']);

interface ObjectCensus {
  readonly count: number;
  /** Every file under objects/, detached metadata included: what removing objects gives back. */
  readonly bytes: number;
  readonly commits: ReadonlySet<string>;
}

async function objectCensus(repo: string): Promise<ObjectCensus> {
  const root = join(repo, 'objects');
  let count = 0;
  let bytes = 0;
  const commits = new Set<string>();
  for (const dir of (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && /^[0-9a-f]{2}$/.test(d.name))) {
    const files = (await readdir(join(root, dir.name), { withFileTypes: true })).filter((f) => f.isFile());
    // One of 256 directories at a time, its files' sizes together: a large repository has millions.
    for (const stat of await Promise.all(files.map((f) => lstat(join(root, dir.name, f.name))))) bytes += stat.size;
    for (const file of files) {
      const dot = file.name.indexOf('.');
      const suffix = file.name.slice(dot + 1);
      if (OBJECT_SUFFIXES.has(suffix)) count++;
      if (suffix === 'commit') commits.add(`${dir.name}${file.name.slice(0, dot)}`);
    }
  }
  return { count, bytes, commits };
}

/** The size of a loose object on disk as ostree names it (`<checksum>.file` is stored `.filez` in an archive repository), with a commit's detached metadata. */
async function objectBytes(repo: string, checksum: string, type: string): Promise<number> {
  const base = join(repo, 'objects', checksum.slice(0, 2), checksum.slice(2));
  const sizeOf = (path: string) => lstat(path).then((s) => s.size, () => null);
  const stored = type === 'file' ? ((await sizeOf(`${base}.filez`)) ?? (await sizeOf(`${base}.file`))) : await sizeOf(`${base}.${type}`);
  if (stored === null) throw new OstreeError(`ostree named object ${checksum}.${type} to prune, and it is not in ${repo}`);
  return stored + (type === 'commit' ? ((await sizeOf(`${base}.commitmeta`)) ?? 0) : 0);
}

// ---- promote ------------------------------------------------------------------------------------

async function planPromote(repo: string, input: PromoteInput): Promise<PromotePlan> {
  const ref = checkedRef(input.ref, 'the ref to promote');
  if (!/^[0-9a-f]{8,64}$/.test(input.commit)) throw refused(OSTREE_PROMOTE_REFUSED, `${JSON.stringify(input.commit.slice(0, 80))} is not a commit checksum (8 to 64 lowercase hex digits)`);
  const aliases = await listAliases(repo);
  if (aliases.has(ref)) throw refused(OSTREE_PROMOTE_REFUSED, `${ref} is an alias of ${aliases.get(ref)}: promote ${aliases.get(ref)} and the alias follows`);
  const commit = input.commit.length === 64 ? input.commit : await ostree(['rev-parse', `--repo=${repo}`, input.commit]).catch((err: Error) => {
    throw refused(OSTREE_PROMOTE_REFUSED, `no single commit ${input.commit} in ${repo} (${err.message})`);
  });
  const history = await historyOf(repo, commit).catch(() => {
    throw refused(OSTREE_PROMOTE_REFUSED, `${repo} has no commit ${commit}`);
  });
  const from = (await listRefs(repo)).includes(ref) ? await refCommit(repo, ref) : null;
  const forwardBy = from === null ? -1 : history.findIndex((h) => h.commit === from);
  const relation: PromotePlan['relation'] = from === null ? 'new-ref' : from === commit ? 'same' : forwardBy > 0 ? 'forward' : 'not-descendant';
  if (relation === 'new-ref' && !input.force) throw refused(OSTREE_PROMOTE_REFUSED, `${ref} does not exist in ${repo}; --force creates it at ${shortCommit(commit)}`);
  if (relation === 'not-descendant' && !input.force) {
    const oldest = history.at(-1)!;
    throw refused(
      OSTREE_PROMOTE_REFUSED,
      `${shortCommit(commit)} does not descend from ${ref}'s commit ${shortCommit(from)} (its history here goes back ${history.length} commit(s) to ${shortCommit(oldest.commit)} of ${oldest.timestamp}); ` +
        "a two-week release moves the stable ref forward only; --force moves it anyway (a rollback)",
    );
  }
  return { repo, ref, commit, subject: history[0]!.subject, from, relation, commitsForward: relation === 'forward' ? forwardBy : null, force: input.force };
}

async function applyPromote(repo: string, key: SigningKey | undefined, plan: PromotePlan): Promise<PromoteOutcome> {
  checkedRef(plan.ref, 'the ref to promote');
  if (!/^[0-9a-f]{64}$/.test(plan.commit)) throw refused(OSTREE_PROMOTE_REFUSED, `the plan's commit ${JSON.stringify(plan.commit.slice(0, 80))} is not a checksum`);
  const exists = (await listRefs(repo)).includes(plan.ref);
  const now = exists ? await refCommit(repo, plan.ref) : null;
  // At the commit already: a retry after this run moved it, or a plan that had nothing to move.
  if (now !== plan.commit) {
    if (now !== plan.from) throw refused(OSTREE_PROMOTE_REFUSED, `${plan.ref} moved since the plan (from ${shortCommit(plan.from)} to ${shortCommit(now)}): plan again`);
    if (now === null) await ostree(['refs', `--repo=${repo}`, `--create=${plan.ref}`, plan.commit]);
    // Fedora's two-week release: `ostree reset` of the stable ref, then the summary.
    else await ostree(['reset', `--repo=${repo}`, plan.ref, plan.commit]);
  }
  return { plan, moved: plan.relation !== 'same', summary: await regenerateSummary(repo, key) };
}

// ---- alias --------------------------------------------------------------------------------------

async function planAlias(repo: string, input: AliasInput): Promise<AliasPlan> {
  const alias = checkedRef(input.alias, 'the alias');
  const target = checkedRef(input.target, 'the aliased ref');
  if (alias === target) throw refused(OSTREE_ALIAS_REFUSED, `a ref cannot be an alias of itself (${alias})`);
  const [refs, aliases] = await Promise.all([listRefs(repo), listAliases(repo)]);
  if (!refs.includes(target)) throw refused(OSTREE_ALIAS_REFUSED, `${target} is not a ref in ${repo}`);
  if (aliases.has(target)) throw refused(OSTREE_ALIAS_REFUSED, `${target} is itself an alias of ${aliases.get(target)}: alias ${aliases.get(target)} instead`);
  const commit = (await refCommit(repo, target))!;
  if (aliases.get(alias) === target) return { repo, alias, target, commit, action: 'none' };
  if (aliases.has(alias)) throw refused(OSTREE_ALIAS_REFUSED, `${alias} is an alias of ${aliases.get(alias)} already, not of ${target}`);
  if (refs.includes(alias)) {
    throw refused(OSTREE_ALIAS_REFUSED, `${alias} is a ref with its own commit ${shortCommit(await refCommit(repo, alias))}; at GA Fedora moves its commits to the updates ref before the main ref becomes an alias: delete ${alias} first`);
  }
  // A ref is a file under refs/heads: neither a directory of refs nor below another ref.
  const clash = refs.find((r) => r.startsWith(`${alias}/`) || alias.startsWith(`${r}/`));
  if (clash) throw refused(OSTREE_ALIAS_REFUSED, `${alias} cannot be a ref beside ${clash}`);
  return { repo, alias, target, commit, action: 'create' };
}

async function applyAlias(repo: string, key: SigningKey | undefined, plan: AliasPlan): Promise<AliasOutcome> {
  checkedRef(plan.alias, 'the alias');
  checkedRef(plan.target, 'the aliased ref');
  const aliases = await listAliases(repo);
  if (aliases.get(plan.alias) !== plan.target) {
    if (aliases.has(plan.alias) || (await listRefs(repo)).includes(plan.alias)) throw refused(OSTREE_ALIAS_REFUSED, `${plan.alias} was made by someone else since the plan: plan again`);
    await ostree(['refs', `--repo=${repo}`, '--alias', `--create=${plan.alias}`, plan.target]);
  }
  return { plan, created: plan.action === 'create', summary: await regenerateSummary(repo, key) };
}

// ---- archive ------------------------------------------------------------------------------------

async function planArchive(deps: OstreeLifecycleDeps, input: ArchiveInput): Promise<ArchivePlan> {
  const prefix = checkedRef(input.prefix.replace(/\/+$/, ''), 'the prefix of the refs to archive');
  const archiveRepo = pathInside(deps.archiveRoot, OSTREE_ARCHIVE_REPO, 'the OSTree archive repository');
  const [refs, aliases, archivedAliases] = await Promise.all([listRefs(deps.repo), listAliases(deps.repo), listAliases(archiveRepo)]);
  const archivedRefs = new Set(await listRefs(archiveRepo));
  const under = refs.filter((r) => r === prefix || r.startsWith(`${prefix}/`));
  if (under.length === 0) throw refused(OSTREE_ARCHIVE_REFUSED, `no refs under ${prefix}/ in ${deps.repo}`);
  const planned: ArchiveRefPlan[] = [];
  for (const ref of under) {
    const commit = (await refCommit(deps.repo, ref))!;
    const archived = archivedRefs.has(ref) ? await refCommit(archiveRepo, ref) : null;
    const target = aliases.get(ref);
    // An alias whose target is archived with it stays an alias; one pointing outside the prefix is archived as a ref.
    if (target !== undefined && under.includes(target)) {
      if (archived !== null && archivedAliases.get(ref) !== target) throw refused(OSTREE_ARCHIVE_REFUSED, `the archive holds ${ref}, and not as an alias of ${target}`);
      planned.push({ ref, commit, commits: 0, archived, action: archived === null ? 'alias' : 'none', aliasOf: target });
      continue;
    }
    const history = await historyOf(deps.repo, ref);
    const action = archived === null ? 'copy' : archived === commit ? 'none' : history.some((h) => h.commit === archived) ? 'update' : null;
    if (action === null) throw refused(OSTREE_ARCHIVE_REFUSED, `the archive holds ${ref} at ${shortCommit(archived)}, which is not in the history of ${shortCommit(commit)}: archiving would hide it`);
    planned.push({ ref, commit, commits: history.length, archived, action, aliasOf: null });
  }
  return { repo: deps.repo, archiveRepo, prefix: `${prefix}/`, refs: planned, checkSignatures: Boolean(deps.signingKey) };
}

function unverified(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`the OSTree archive does not verify: ${message}`, OSTREE_ARCHIVE_UNVERIFIED);
}

async function applyArchive(deps: OstreeLifecycleDeps, plan: ArchivePlan): Promise<ArchiveOutcome> {
  // The repositories are this worker's, never the plan's word for them; the refs are checked again.
  const archiveRepo = pathInside(deps.archiveRoot, OSTREE_ARCHIVE_REPO, 'the OSTree archive repository');
  for (const r of plan.refs) checkedRef(r.ref, 'a ref to archive');
  await ensureRepo(archiveRepo);
  const copied = plan.refs.filter((r) => r.aliasOf === null);
  // Every ref, not only those the plan found missing: pull-local skips what is there, so a retry finishes the job.
  // --depth=-1: the whole history; --untrusted: every object's checksum verified as it is copied;
  // --disable-verify-bindings: a promoted ref points at a commit made for another (the testing ref's),
  // whose ref binding names that other ref, and the archive keeps refs exactly as the repository has them.
  await beatingWhile({ step: 'pull-local', refs: copied.length }, () =>
    ostree(['pull-local', `--repo=${archiveRepo}`, '--depth=-1', '--untrusted', '--disable-verify-bindings', deps.repo, ...copied.map((r) => r.ref)]),
  );
  const archivedAliases = await listAliases(archiveRepo);
  for (const r of plan.refs.filter((p) => p.aliasOf !== null && archivedAliases.get(p.ref) !== p.aliasOf)) {
    await ostree(['refs', `--repo=${archiveRepo}`, '--alias', `--create=${r.ref}`, r.aliasOf!]);
  }
  const fsck = await beatingWhile({ step: 'fsck' }, () => ostree(['fsck', `--repo=${archiveRepo}`])).catch((err: Error) => {
    throw unverified(`ostree fsck: ${err.message}`);
  });
  const verified: ArchiveOutcome['verified'][number][] = [];
  const commits = new Set<string>();
  for (const r of plan.refs) {
    const [source, archived] = await Promise.all([historyOf(deps.repo, r.ref), historyOf(archiveRepo, r.ref).catch(() => [])]);
    const same = source.length === archived.length && source.every((c, i) => c.commit === archived[i]!.commit);
    if (!same) throw unverified(`${r.ref}: ${archived.length} commit(s) from ${shortCommit(archived[0]?.commit ?? null)} in the archive, ${source.length} from ${shortCommit(source[0]!.commit)} in ${deps.repo}`);
    verified.push({ ref: r.ref, commit: source[0]!.commit, commits: source.length });
    for (const c of source) commits.add(c.commit);
  }
  let signatures: ArchiveOutcome['signatures'] = null;
  if (deps.signingKey) {
    const key = deps.signingKey;
    let signed = 0;
    let good = 0;
    await beatingWhile({ step: 'signatures', commits: commits.size }, async () => {
      for (const commit of commits) {
        if (!(await ostreeSignatureStatus(key, deps.repo, commit)).good) continue;
        signed++;
        if (!(await ostreeSignatureStatus(key, archiveRepo, commit)).good) throw unverified(`commit ${commit} has a good signature by ${key.keyId} in ${deps.repo} and none in the archive`);
        good++;
      }
    });
    signatures = { signed, verified: good };
  }
  return { plan, fsck: fsck.split('\n').at(-1) ?? fsck, verified, signatures, summary: await regenerateSummary(archiveRepo, deps.signingKey) };
}

// ---- prune --------------------------------------------------------------------------------------

interface PruneDecision {
  readonly plan: PrunePlan;
  /** The refs `delete` removes, and the arguments of the one `ostree prune` (without --repo). */
  readonly deleteRefs: readonly string[];
  readonly pruneArgs: readonly string[];
}

/**
 * Decides the whole prune from the repository and the policies: what every ref keeps, hence which
 * commits no ref keeps any more. Refused, before anything is touched, when a ref has no policy or
 * an alias would be left pointing at a deleted ref.
 *
 * All policies go into one `ostree prune`, so that its `--no-prune` form on the same refs is
 * exactly the real run: each ref is an `--only-branch` kept to the depth its policy gives
 * (keep-days: the last commit and every one after it younger than the cutoff, which is what
 * `--keep-younger-than` keeps, counted once from the run's own time; that option is global and
 * one run has several ages). Depth 0 goes through the global `--depth=0`: ostree 2022.7 reads
 * `--retain-branch-depth=REF=0` as no depth at all and keeps everything.
 */
async function decidePrune(repo: string, input: PruneInput): Promise<PruneDecision> {
  const parsed = z.array(PruneRuleSchema).safeParse(input.policies);
  if (!parsed.success) throw refused(OSTREE_PRUNE_REFUSED, `the prune policies are not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const rules = parsed.data;
  if (rules.length === 0) throw refused(OSTREE_PRUNE_REFUSED, 'no prune policies are configured (ostree.prune.policies): every ref needs one');
  const at = new Date(input.at);
  if (Number.isNaN(at.getTime())) throw refused(OSTREE_PRUNE_REFUSED, `${JSON.stringify(input.at)} is not a time`);
  if (!existsSync(join(repo, 'config'))) throw refused(OSTREE_PRUNE_REFUSED, `${repo} is not an OSTree repository`);
  const [all, aliasMap] = await Promise.all([listRefs(repo), listAliases(repo)]);
  const refs = all.filter((r) => !aliasMap.has(r));
  const decided = refs.map((ref) => ({ ref, found: ruleFor(ref, rules) }));
  const orphans = decided.filter((d) => d.found === null).map((d) => d.ref);
  if (orphans.length > 0) {
    throw refused(OSTREE_PRUNE_REFUSED, `${orphans.length} ref(s) have no prune policy: ${orphans.join(', ')}; give each a rule in ostree.prune.policies`);
  }
  const policyOf = new Map(decided.map((d) => [d.ref, d.found!]));
  const deleteRefs = refs.filter((r) => policyOf.get(r)!.rule.policy === 'delete');
  const dangling = [...aliasMap].filter(([, target]) => deleteRefs.includes(target));
  if (dangling.length > 0) {
    throw refused(OSTREE_PRUNE_REFUSED, `deleting ${dangling.map(([, t]) => t).join(', ')} would leave alias(es) ${dangling.map(([a]) => a).join(', ')} pointing nowhere: delete or re-point them first`);
  }

  const histories = new Map<string, OstreeCommitEntry[]>();
  for (const ref of refs) histories.set(ref, await historyOf(repo, ref));
  const keepDepth = new Map<string, number>();
  const retained = new Set<string>();
  for (const ref of refs) {
    const { rule } = policyOf.get(ref)!;
    const history = histories.get(ref)!;
    const kept = keptCommits(rule, history, at);
    for (const c of kept) retained.add(c);
    if (rule.policy === 'keep-days' || rule.policy === 'keep-depth') keepDepth.set(ref, kept.length - 1);
  }
  const reports = refs.map((ref): PruneRefReport => {
    const { index, rule } = policyOf.get(ref)!;
    const before = histories.get(ref)!.map((h) => h.commit);
    const deleted = rule.policy === 'delete';
    // What `ostree log` will show: the history up to the first commit no ref keeps.
    const gone = before.findIndex((c) => !retained.has(c));
    const after = deleted ? [] : gone < 0 ? before : before.slice(0, gone);
    const removed = before.filter((c) => !retained.has(c));
    return {
      ref, policy: rule.policy, rule: `${index + 1}: ${rule.match} ${describeRule(rule)}`, before: before.length, after: after.length, tip: after[0] ?? null,
      removed: removed.length, removedCommits: removed.slice(0, REMOVED_COMMITS_LISTED), deleted,
    };
  });

  // Aliases go with their target's depth: whether ostree counts an alias as a ref of its own must not keep a history alive.
  const branches = [...keepDepth.keys(), ...[...aliasMap].filter(([, t]) => keepDepth.has(t)).map(([a]) => a)].sort();
  const depthOf = (ref: string) => keepDepth.get(ref) ?? keepDepth.get(aliasMap.get(ref)!)!;
  const pruneArgs = branches.length === 0
    ? ['--refs-only']
    : ['--refs-only', '--depth=0', ...branches.flatMap((b) => [`--only-branch=${b}`, ...(depthOf(b) > 0 ? [`--retain-branch-depth=${b}=${depthOf(b)}`] : [])])];
  return {
    plan: { repo, at: at.toISOString(), refs: reports, aliases: [...aliasMap].map(([alias, target]) => ({ alias, target })).sort((a, b) => a.alias.localeCompare(b.alias)), command: ['ostree', 'prune', ...pruneArgs].join(' ') },
    deleteRefs,
    pruneArgs,
  };
}

/** What a policy keeps of a history (newest first), as ostree keeps it. */
function keptCommits(rule: PruneRule, history: readonly OstreeCommitEntry[], at: Date): string[] {
  const commits = history.map((h) => h.commit);
  switch (rule.policy) {
    case 'keep-all':
      return commits;
    case 'delete':
      return [];
    case 'keep-depth':
      return commits.slice(0, rule.depth + 1);
    case 'keep-days': {
      // ostree's traverse_keep_younger_than: the ref's commit always, then back while each is at least as young as the cutoff.
      const cutoff = at.getTime() - rule.days * 86_400_000;
      const young = history.findIndex((h) => Date.parse(h.timestamp) < cutoff);
      return commits.slice(0, Math.max(1, young < 0 ? commits.length : young));
    }
  }
}

/** The last line ostree printed ("Deleted 9 objects, 676 bytes freed", "No unreachable objects"). */
const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

/**
 * A repository that shares `repo`'s objects (a symlink) and has a copy of its refs: refs can be
 * deleted there and `ostree prune --no-prune` run as the real run would, reading the real objects
 * and writing nothing to them.
 */
async function withShadowRepo<T>(repo: string, work: (shadow: string) => Promise<T>): Promise<T> {
  const shadow = await mkdtemp(join(tmpdir(), 'relengotron-prune-dry-run-'));
  const objects = join(shadow, 'objects');
  try {
    await copyFile(join(repo, 'config'), join(shadow, 'config'));
    await symlink(join(resolve(repo), 'objects'), objects);
    await cp(join(repo, 'refs'), join(shadow, 'refs'), { recursive: true, verbatimSymlinks: true });
    for (const dir of ['tmp', 'refs/heads', 'refs/remotes', 'refs/mirrors']) await mkdir(join(shadow, dir), { recursive: true });
    return await work(shadow);
  } finally {
    // The link first, on its own: nothing below may ever reach the real objects.
    await unlink(objects).catch(() => undefined);
    await rm(shadow, { recursive: true, force: true });
  }
}

/** `ostree prune --no-prune --verbose`: the objects it would delete (from its debug lines) and its last line. */
function pruneWouldDelete(repo: string, args: readonly string[]): Promise<{ objects: { checksum: string; type: string }[]; said: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('ostree', ['prune', `--repo=${repo}`, '--no-prune', '--verbose', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const objects: { checksum: string; type: string }[] = [];
    let stdout = '';
    let pending = '';
    let errors = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // One debug line per object of the repository: read as a stream, only the pruned ones kept.
    child.stderr.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /Pruning unneeded object ([0-9a-f]{64})\.([a-z-]+)/.exec(line);
        if (m) objects.push({ checksum: m[1]!, type: m[2]! });
        else if (/^error:/.test(line)) errors += `${line}\n`;
      }
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise({ objects, said: lastLine(stdout) }) : reject(new OstreeError(`ostree prune --no-prune: ${errors.trim() || `exit ${code}`}`))));
  });
}

/**
 * What a run records (in its heartbeats) before it changes anything, so that a retry after a crash
 * reports from the same start: the objects on disk and the plan's per-ref report.
 */
const PruneBaselineSchema = z.object({
  objects: z.object({ count: z.number(), bytes: z.number() }),
  refs: z.array(
    z.object({
      ref: z.string(), policy: z.enum(['keep-all', 'keep-days', 'keep-depth', 'delete']), rule: z.string(), before: z.number(), after: z.number(),
      tip: z.string().nullable(), removed: z.number(), removedCommits: z.array(z.string()), deleted: z.boolean(),
    }),
  ),
});
interface PruneBaseline {
  readonly objects: { readonly count: number; readonly bytes: number };
  readonly refs: readonly PruneRefReport[];
}

async function dryRunPrune(repo: string, input: PruneInput): Promise<PruneReport> {
  const { plan, deleteRefs, pruneArgs } = await decidePrune(repo, input);
  return beatingWhile({ step: 'dry run' }, async () => {
    const census = await objectCensus(repo);
    const { objects, said } = await withShadowRepo(repo, async (shadow) => {
      for (const ref of deleteRefs) await ostree(['refs', `--repo=${shadow}`, '--delete', ref]);
      return pruneWouldDelete(shadow, pruneArgs);
    });
    let bytesFreed = 0;
    for (const o of objects) bytesFreed += await objectBytes(repo, o.checksum, o.type);
    return { dryRun: true, ...plan, objects: { before: census.count, after: census.count - objects.length, deleted: objects.length, bytesFreed }, ostreeSaid: said, summary: null };
  });
}

async function applyPrune(repo: string, key: SigningKey | undefined, input: PruneInput): Promise<PruneReport> {
  // Decided (and refused) again here: a ref made since the plan needs its policy too.
  const { plan, deleteRefs, pruneArgs } = await decidePrune(repo, input);
  const resumed = PruneBaselineSchema.safeParse(lastHeartbeat());
  const baseline: PruneBaseline = resumed.success ? resumed.data : { objects: await objectCensus(repo), refs: plan.refs };
  return beatingWhile({ objects: { count: baseline.objects.count, bytes: baseline.objects.bytes }, refs: baseline.refs }, async () => {
    const present = new Set(await listRefs(repo));
    for (const ref of deleteRefs.filter((r) => present.has(r))) await ostree(['refs', `--repo=${repo}`, '--delete', ref]);
    const said = lastLine(await ostree(['prune', `--repo=${repo}`, ...pruneArgs]));
    const summary = await regenerateSummary(repo, key);
    // Measured, not taken from the plan: each ref's history and tip now, and which of the commits the plan removes are gone.
    const census = await objectCensus(repo);
    const remaining = new Set(await listRefs(repo));
    const refs: PruneRefReport[] = [];
    for (const planned of baseline.refs) {
      const history = remaining.has(planned.ref) ? await historyOf(repo, planned.ref) : [];
      const stayed = planned.removedCommits.filter((c) => census.commits.has(c)).length;
      refs.push({
        ...planned, after: history.length, tip: history[0]?.commit ?? null,
        removed: planned.removed - stayed, removedCommits: planned.removedCommits.filter((c) => !census.commits.has(c)),
      });
    }
    return {
      dryRun: false, ...plan, refs,
      objects: { before: baseline.objects.count, after: census.count, deleted: baseline.objects.count - census.count, bytesFreed: baseline.objects.bytes - census.bytes },
      ostreeSaid: said, summary,
    };
  });
}

export function createOstreeLifecycleActivities(deps: OstreeLifecycleDeps): OstreeLifecycleActivities {
  return {
    planOstreePromote: (input) => planPromote(deps.repo, input),
    promoteOstreeRef: (plan) => applyPromote(deps.repo, deps.signingKey, plan),
    planOstreeAlias: (input) => planAlias(deps.repo, input),
    aliasOstreeRef: (plan) => applyAlias(deps.repo, deps.signingKey, plan),
    planOstreeArchive: (input) => planArchive(deps, input),
    archiveOstreeRefs: (plan) => applyArchive(deps, plan),
    planOstreePrune: async (input) => (await decidePrune(deps.repo, input)).plan,
    dryRunOstreePrune: (input) => dryRunPrune(deps.repo, input),
    pruneOstreeRepo: (input) => applyPrune(deps.repo, deps.signingKey, input),
  };
}
