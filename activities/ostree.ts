/**
 * OSTree repositories with the real `ostree` tool: a commit from a composed tree onto a ref, the
 * summary updated. A commit carries the step that made it, so a retried step finds its commit
 * instead of making a second one.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { checkedName, ostreeRefProblem, UNSAFE_PATH } from '../common/safe-names.js';
import { pathInside } from './safe-path.js';
import { presetPassphrase, SIGNING_NOT_CONFIGURED, type SigningKey } from './signing.js';
import { readLocalRepo, type RepoPackage } from './yum-repo.js';

const run = promisify(execFile);

/** The metadata key naming the run step that made a commit. */
export const STEP_METADATA_KEY = 'releng-o-tron.step';

export interface OstreeCommitInput {
  /** An archive-mode repository; created when missing. */
  readonly repo: string;
  /** e.g. fedora/43/x86_64/updates/iot */
  readonly ref: string;
  /** The directory whose content becomes the commit's tree. */
  readonly tree: string;
  readonly subject: string;
  /** The `version` metadata clients show (43.20261123.0). */
  readonly version: string;
  /** Unique per run and artifact; makes the commit idempotent. */
  readonly stepId: string;
  /** The packages the tree is made of (N-V-R.arch), recorded in the commit so `ostree show` says what is in it. */
  readonly packages?: readonly string[];
  /** Signs the summary after the ref moved. */
  readonly summaryKey?: SigningKey;
}

export interface OstreeCommit {
  readonly repo: string;
  readonly ref: string;
  readonly commit: string;
  readonly version: string;
  /** The ref's previous commit, which this one names as its parent. */
  readonly parent: string | null;
  /** False when a retry found the commit an earlier attempt made. */
  readonly createdNow: boolean;
  /** The packages in the tree (N-V-R.arch); absent for runs from before whole trees. */
  readonly packages?: readonly string[];
  /** The static delta from the parent, which clients fetch instead of every changed object. */
  readonly delta?: { readonly from: string; readonly to: string } | null;
}

export const OSTREE_REPO_UNUSABLE = 'OstreeRepoUnusable';
/** A package the tree's definition names is not in the tag's repository for the arch. */
export const TREE_PACKAGE_MISSING = 'TreePackageMissing';
/** An RPM that cannot be unpacked inside the tree (unreadable, or crafted to write outside it). */
export const RPM_UNUSABLE = 'RpmUnusable';

export class OstreeError extends Error {
  override name = 'OstreeError';
}

/** Runs `ostree` with `args`; its stdout, trimmed. Rejects with an OstreeError naming the subcommand and what ostree said. */
export async function ostree(args: readonly string[]): Promise<string> {
  try {
    return (await run('ostree', [...args], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  } catch (err) {
    throw new OstreeError(`ostree ${args[0]}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

export async function ensureRepo(repo: string): Promise<void> {
  if (existsSync(join(repo, 'config'))) return;
  await mkdir(repo, { recursive: true });
  await ostree(['init', `--repo=${repo}`, '--mode=archive']);
}

export async function refCommit(repo: string, ref: string): Promise<string | null> {
  return ostree(['rev-parse', `--repo=${repo}`, ref]).catch(() => null);
}

async function metadataOf(repo: string, commit: string, key: string): Promise<string | null> {
  const value = await ostree(['show', `--repo=${repo}`, `--print-metadata-key=${key}`, commit]).catch(() => null);
  // GVariant text: 'value'
  return value ? value.replace(/^'(.*)'$/, '$1') : null;
}

/** The metadata key listing a commit's packages (N-V-R.arch), as a GVariant string array. */
export const PACKAGES_METADATA_KEY = 'releng-o-tron.packages';

/** A GVariant text string: single-quoted, backslash-escaped. */
const gvariantString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The packages a commit records, or null when it records none. */
export async function commitPackages(repo: string, commit: string): Promise<string[] | null> {
  const value = await ostree(['show', `--repo=${repo}`, `--print-metadata-key=${PACKAGES_METADATA_KEY}`, commit]).catch(() => null);
  if (!value) return null;
  return [...value.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
}

export async function commitTree(input: OstreeCommitInput): Promise<OstreeCommit> {
  if (!existsSync(input.tree)) throw new OstreeError(`the tree to commit does not exist: ${input.tree}`);
  await ensureRepo(input.repo);
  const head = await refCommit(input.repo, input.ref);
  let commit: string;
  let parent: string | null;
  let createdNow: boolean;
  if (head && (await metadataOf(input.repo, head, STEP_METADATA_KEY)) === input.stepId) {
    // An earlier attempt committed and moved the ref; the delta and summary are made again below.
    commit = head;
    parent = await ostree(['rev-parse', `--repo=${input.repo}`, `${head}^`]).catch(() => null);
    createdNow = false;
  } else {
    commit = await ostree([
      'commit', `--repo=${input.repo}`, `--branch=${input.ref}`, `--subject=${input.subject}`,
      `--add-metadata-string=version=${input.version}`, `--add-metadata-string=${STEP_METADATA_KEY}=${input.stepId}`,
      ...(input.packages ? [`--add-metadata=${PACKAGES_METADATA_KEY}=@as [${input.packages.map(gvariantString).join(', ')}]`] : []),
      // An OS tree is root's, whoever composes it.
      '--owner-uid=0', '--owner-gid=0',
      `--tree=dir=${input.tree}`,
    ]);
    parent = head;
    createdNow = true;
  }
  const delta = parent ? { from: parent, to: commit } : null;
  if (delta) await ostree(['static-delta', 'generate', `--repo=${input.repo}`, `--from=${delta.from}`, `--to=${delta.to}`]);
  await updateSummary(input.repo, input.summaryKey);
  return { repo: input.repo, ref: input.ref, commit, version: input.version, parent, createdNow, ...(input.packages ? { packages: input.packages } : {}), delta };
}

/**
 * Regenerates the summary after a ref moved, signed with the key when there is one: clients that
 * verify (`gpg-verify-summary=true`, as Fedora's remotes do) refuse an unsigned or stale summary.
 */
export async function updateSummary(repo: string, key?: SigningKey): Promise<void> {
  if (!key) {
    await ostree(['summary', `--repo=${repo}`, '--update']);
    return;
  }
  await presetPassphrase(key);
  await ostree(['summary', `--repo=${repo}`, '--update', `--gpg-sign=${key.keyId}`, `--gpg-homedir=${key.homedir}`]);
}

/** What a tree is made of: a treefile's package list, resolved against the tag's repository at every commit. */
export interface TreeDefinition {
  /** PDC's name for the tree: `fedora-iot`. */
  readonly name: string;
  /** Binary package names; the tree gets the latest build of each in the repository, for its arch. */
  readonly packages: readonly string[];
}

export interface ComposeOstreeInput {
  readonly ref: string;
  /** The release's version (29) and the push's ID, for the commit's version and subject. */
  readonly releaseVersion: string;
  readonly pushId: string;
  readonly stepId: string;
  /** The tree's definition; absent for runs from before whole trees. */
  readonly tree?: TreeDefinition;
  /** The tag's whole repository (with what it inherits), fetched: `<dir>/<arch>/`. */
  readonly repository?: { readonly dir: string; readonly arch: string };
  /** Sign the summary with the worker's key (the push signs). */
  readonly signSummary?: boolean;
  /** Runs from before whole trees: the builds of the push and their RPMs, the only content. */
  readonly builds?: readonly string[];
  readonly rpms?: readonly string[];
}

/**
 * Unpacks an RPM's payload into a tree with libarchive (bsdtar reads RPMs), whose extraction is
 * secure by default: no entry is written through a symlink already in the tree (an earlier
 * package's `lnk -> /outside` followed by this one's `lnk/f`), no `..` in a name or a hardlink's
 * target, no absolute path. No scriptlets run (they need rpm-ostree).
 */
export async function unpackRpm(rpm: string, tree: string): Promise<void> {
  try {
    await run('bsdtar', ['-x', '-f', rpm, '-C', tree, '--no-same-owner', '--no-acls', '--no-xattrs', '--no-fflags'], { maxBuffer: 4 * 1024 * 1024 });
  } catch (err) {
    const said = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').slice(0, 3).join('; ');
    // The host's faults are not the RPM's: a missing bsdtar is the setup's, a full disk can be freed.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw ApplicationFailure.nonRetryable('bsdtar is not installed (libarchive-tools): npm run setup', 'ProgramMissing');
    if (/No space left on device/.test(said)) throw ApplicationFailure.retryable(`no space left in ${tree} (free some, then retry): ${said}`, 'PushWorkDirFull');
    throw ApplicationFailure.nonRetryable(`${rpm.replace(/^.*\//, '')} cannot be unpacked inside the tree, so the tree is not committed: ${said}`, RPM_UNUSABLE);
  }
}

/** Each package the definition names, from the arch's repository: the arch's own build, else the noarch one. */
export function resolveTreePackages(tree: TreeDefinition, arch: string, available: readonly (RepoPackage & { readonly path: string })[]): (RepoPackage & { readonly path: string })[] {
  const chosen: (RepoPackage & { readonly path: string })[] = [];
  const missing: string[] = [];
  for (const name of [...new Set(tree.packages)].sort()) {
    const candidates = available.filter((p) => p.name === name && (p.arch === arch || p.arch === 'noarch'));
    const pick = candidates.find((p) => p.arch === arch) ?? candidates[0];
    if (pick) chosen.push(pick);
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(`${tree.name} for ${arch}: ${missing.length} of its packages are not in the repository: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`, TREE_PACKAGE_MISSING);
  }
  return chosen;
}

export interface OstreeActivities {
  composeOstree(input: ComposeOstreeInput): Promise<OstreeCommit>;
  /** Each ref's commit and its `version` metadata (null when the ref does not exist). */
  ostreeRefVersions(input: { readonly refs: readonly string[] }): Promise<{ readonly ref: string; readonly commit: string | null; readonly version: string | null }[]>;
  /** A static delta between two commits (kept when it exists), so clients fetch the difference. */
  ostreeStaticDelta(input: { readonly from: string; readonly to: string }): Promise<void>;
}

/**
 * The tree committed for a push: every package of its definition, as the tag's whole repository
 * has it now, unpacked into an empty directory, with os-release and the manifest; so each commit
 * is the complete OS for its package set, whatever the push changed. rpm-ostree (which would
 * also resolve dependencies and run scriptlets) is not available here; the RPMs, the commit, its
 * parent, the static delta, the signed summary, signing and sync are real.
 */
export function createOstreeActivities(deps: { readonly repo: string; readonly workDir: string; readonly signingKey?: SigningKey }): OstreeActivities {
  // A push composes its trees in parallel; commits and summary updates to one repository take turns.
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const mine = turn.then(work, work);
    turn = mine.catch(() => undefined);
    return mine;
  };
  const checkedCommit = (commit: string) => {
    if (!/^[0-9a-f]{64}$/.test(commit)) throw ApplicationFailure.nonRetryable(`not an OSTree commit checksum: ${commit.slice(0, 80)}`, UNSAFE_PATH);
    return commit;
  };
  return {
    async ostreeRefVersions(input) {
      const out: { ref: string; commit: string | null; version: string | null }[] = [];
      for (const ref of input.refs) {
        const problem = ostreeRefProblem(ref);
        if (problem) throw ApplicationFailure.nonRetryable(problem, UNSAFE_PATH);
        const commit = existsSync(join(deps.repo, 'config')) ? await refCommit(deps.repo, ref) : null;
        out.push({ ref, commit, version: commit ? await metadataOf(deps.repo, commit, 'version') : null });
      }
      return out;
    },
    ostreeStaticDelta: (input) => inTurn(async () => {
      await ostree(['static-delta', 'generate', `--repo=${deps.repo}`, '--if-not-exists', `--from=${checkedCommit(input.from)}`, `--to=${checkedCommit(input.to)}`]);
    }),
    composeOstree: (input: ComposeOstreeInput): Promise<OstreeCommit> => inTurn(async () => {
      const checkedRef = ostreeRefProblem(input.ref);
      if (checkedRef) throw ApplicationFailure.nonRetryable(checkedRef, UNSAFE_PATH);
      checkedName('release version', input.releaseVersion, "the push's release version");
      if (input.signSummary && !deps.signingKey) throw ApplicationFailure.nonRetryable('no signing key is configured for the OSTree summary (push.signing / RELENGOTRON_SIGNING_*)', SIGNING_NOT_CONFIGURED);
      const work = join(deps.workDir, input.stepId.replace(/[^A-Za-z0-9._-]/g, '_'));
      const tree = join(work, 'tree');
      await rm(tree, { recursive: true, force: true });
      await mkdir(join(tree, 'usr/lib'), { recursive: true });
      await mkdir(join(tree, 'usr/share/releng-o-tron'), { recursive: true });
      let rpms: readonly string[];
      let packages: string[] | undefined;
      let builds: readonly string[];
      if (input.tree && input.repository) {
        const arch = checkedName('arch', input.repository.arch, 'the tree arch');
        const chosen = resolveTreePackages(input.tree, arch, readLocalRepo(pathInside(input.repository.dir, arch, 'the tree repository')));
        rpms = chosen.map((p) => p.path);
        packages = chosen.map((p) => `${p.nvr}.${p.arch}`);
        builds = [...new Set(chosen.map((p) => p.nvr))];
      } else {
        rpms = input.rpms ?? [];
        builds = input.builds ?? [];
      }
      await writeFile(join(tree, 'usr/lib/os-release'), `NAME=Fedora\nVERSION_ID=${input.releaseVersion}\nOSTREE_VERSION=${input.releaseVersion}.${input.pushId}\n`);
      await writeFile(join(tree, 'usr/share/releng-o-tron/builds.txt'), `${[...builds].sort().join('\n')}\n`);
      try {
        for (const rpm of rpms) await unpackRpm(rpm, tree);
        try {
          await ensureRepo(deps.repo);
        } catch (err) {
          // A repository path that cannot be one is the host's configuration: no retry mends it.
          throw ApplicationFailure.nonRetryable(`the OSTree repository ${deps.repo} cannot be used: ${(err as Error).message}`, OSTREE_REPO_UNUSABLE);
        }
        return await commitTree({
          repo: deps.repo,
          ref: input.ref,
          tree,
          subject: input.tree ? `${input.tree.name} ${input.releaseVersion}.${input.pushId}: ${packages!.length} packages` : `push ${input.pushId}: ${builds.length} builds`,
          version: `${input.releaseVersion}.${input.pushId}`,
          stepId: input.stepId,
          ...(packages ? { packages } : {}),
          ...(input.signSummary ? { summaryKey: deps.signingKey } : {}),
        });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }),
  };
}

/** The repository's refs under a prefix (`fedora/45/`), each with how many commits it has beyond its last. */
export async function refsUnder(repo: string, prefix: string): Promise<{ ref: string; olderCommits: number }[]> {
  if (!existsSync(join(repo, 'config'))) return [];
  const refs = (await ostree(['refs', `--repo=${repo}`])).split('\n').filter((r) => r.startsWith(prefix));
  const out: { ref: string; olderCommits: number }[] = [];
  for (const ref of refs) {
    const log = await ostree(['log', `--repo=${repo}`, ref]).catch(() => '');
    out.push({ ref, olderCommits: Math.max(0, (log.match(/^commit [0-9a-f]{64}$/gm) ?? []).length - 1) });
  }
  return out;
}

/** Fedora's pruning of an EOL release's ref: only its last commit is kept (depth 0), then the summary is regenerated (signed with `summaryKey`). */
export async function pruneToLastCommit(repo: string, ref: string, summaryKey?: SigningKey): Promise<void> {
  await ostree(['prune', `--repo=${repo}`, `--only-branch=${ref}`, '--depth=0', '--refs-only', '--commit-only']);
  await updateSummary(repo, summaryKey);
}

/** The refs under a prefix and the commit each points at (`fedora/rawhide/` for a branch). */
export async function refCommitsUnder(repo: string, prefix: string): Promise<{ ref: string; commit: string }[]> {
  if (!existsSync(join(repo, 'config'))) return [];
  const refs = (await ostree(['refs', `--repo=${repo}`])).split('\n').filter((r) => r.startsWith(prefix));
  const out: { ref: string; commit: string }[] = [];
  for (const ref of refs) {
    const commit = await refCommit(repo, ref);
    if (commit) out.push({ ref, commit });
  }
  return out;
}

/** Points `ref` at `commit` (creating it), then regenerates the summary (signed with `summaryKey`); null `commit` deletes the ref. */
export async function setRef(repo: string, ref: string, commit: string | null, summaryKey?: SigningKey): Promise<void> {
  if (commit === null) await ostree(['refs', `--repo=${repo}`, '--delete', ref]);
  else await ostree(['refs', `--repo=${repo}`, `--create=${ref}`, commit]);
  await updateSummary(repo, summaryKey);
}
