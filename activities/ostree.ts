/**
 * OSTree repositories with the real `ostree` tool: a commit from a composed tree onto a ref, the
 * summary updated. A commit carries the step that made it, so a retried step finds its commit
 * instead of making a second one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { presetPassphrase, type SigningKey } from './signing.js';

const run = promisify(execFile);

/** The metadata key naming the run step that made a commit. */
export const STEP_METADATA_KEY = 'releng-o-tron.step';

export interface OstreeCommitInput {
  /** An archive-mode repository; created when missing. */
  readonly repo: string;
  /** e.g. fedora/43/x86_64/iot */
  readonly ref: string;
  /** The directory whose content becomes the commit's tree. */
  readonly tree: string;
  readonly subject: string;
  /** The `version` metadata clients show (43.20261123.0). */
  readonly version: string;
  /** Unique per run and artifact; makes the commit idempotent. */
  readonly stepId: string;
}

export interface OstreeCommit {
  readonly repo: string;
  readonly ref: string;
  readonly commit: string;
  readonly version: string;
  readonly parent: string | null;
  /** False when a retry found the commit an earlier attempt made. */
  readonly createdNow: boolean;
}

export const OSTREE_REPO_UNUSABLE = 'OstreeRepoUnusable';

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

export async function commitTree(input: OstreeCommitInput): Promise<OstreeCommit> {
  if (!existsSync(input.tree)) throw new OstreeError(`the tree to commit does not exist: ${input.tree}`);
  await ensureRepo(input.repo);
  const parent = await refCommit(input.repo, input.ref);
  if (parent && (await metadataOf(input.repo, parent, STEP_METADATA_KEY)) === input.stepId) {
    const grandparent = await ostree(['rev-parse', `--repo=${input.repo}`, `${parent}^`]).catch(() => null);
    return { repo: input.repo, ref: input.ref, commit: parent, version: input.version, parent: grandparent, createdNow: false };
  }
  const commit = await ostree([
    'commit', `--repo=${input.repo}`, `--branch=${input.ref}`, `--subject=${input.subject}`,
    `--add-metadata-string=version=${input.version}`, `--add-metadata-string=${STEP_METADATA_KEY}=${input.stepId}`,
    `--tree=dir=${input.tree}`,
  ]);
  await ostree(['summary', `--repo=${input.repo}`, '--update']);
  return { repo: input.repo, ref: input.ref, commit, version: input.version, parent, createdNow: true };
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

export interface ComposeOstreeInput {
  readonly ref: string;
  /** The release's version (29) and the push's ID, for the commit's version and subject. */
  readonly releaseVersion: string;
  readonly pushId: string;
  /** The builds mashed into the release by this push. */
  readonly builds: readonly string[];
  /** Their RPMs from the mashed repository, whose payloads make the tree; empty when no repository was written. */
  readonly rpms: readonly string[];
  readonly stepId: string;
}

/** Unpacks an RPM's payload into a tree, as rpm2cpio | cpio does (no scriptlets: they need rpm-ostree). */
async function unpackRpm(rpm: string, tree: string): Promise<void> {
  const payload = spawn('rpm2cpio', [rpm], { stdio: ['ignore', 'pipe', 'pipe'] });
  const cpio = spawn('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: tree, stdio: ['pipe', 'ignore', 'pipe'] });
  let errors = '';
  payload.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  cpio.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  payload.stdout.pipe(cpio.stdin);
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
  // Both ends must finish: cpio may close before rpm2cpio has reported its own status.
  const [unpacked, extracted] = await Promise.all([exited(payload), exited(cpio)]);
  if (unpacked !== 0 || extracted !== 0) throw new Error(`unpacking ${rpm}: ${errors.trim() || `rpm2cpio exit ${unpacked}, cpio exit ${extracted}`}`);
}

export interface OstreeActivities {
  composeOstree(input: ComposeOstreeInput): Promise<OstreeCommit>;
}

/**
 * The tree committed for a push: the payloads of its RPMs from the mashed repository, its
 * os-release and the manifest of builds. rpm-ostree (which would also resolve dependencies and
 * run scriptlets) is not available here; the RPMs, the commit, the ref, the summary, signing and
 * sync are real.
 */
export function createOstreeActivities(deps: { readonly repo: string; readonly workDir: string }): OstreeActivities {
  // A push composes its trees in parallel; commits and summary updates to one repository take turns.
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const mine = turn.then(work, work);
    turn = mine.catch(() => undefined);
    return mine;
  };
  return {
    composeOstree: (input: ComposeOstreeInput): Promise<OstreeCommit> => inTurn(async () => {
      const tree = join(deps.workDir, input.stepId.replace(/[^A-Za-z0-9._-]/g, '_'), 'tree');
      await rm(tree, { recursive: true, force: true });
      await mkdir(join(tree, 'usr/lib'), { recursive: true });
      await mkdir(join(tree, 'usr/share/releng-o-tron'), { recursive: true });
      await writeFile(join(tree, 'usr/lib/os-release'), `NAME=Fedora\nVERSION_ID=${input.releaseVersion}\nOSTREE_VERSION=${input.releaseVersion}.${input.pushId}\n`);
      await writeFile(join(tree, 'usr/share/releng-o-tron/builds.txt'), `${[...input.builds].sort().join('\n')}\n`);
      for (const rpm of input.rpms) {
        try {
          await unpackRpm(rpm, tree);
        } catch (err) {
          throw ApplicationFailure.nonRetryable((err as Error).message, 'RpmUnusable');
        }
      }
      try {
        await ensureRepo(deps.repo);
      } catch (err) {
        // A repository path that cannot be one is the host's configuration: no retry mends it.
        throw ApplicationFailure.nonRetryable(`the OSTree repository ${deps.repo} cannot be used: ${(err as Error).message}`, OSTREE_REPO_UNUSABLE);
      }
      try {
        return await commitTree({
          repo: deps.repo,
          ref: input.ref,
          tree,
          subject: `push ${input.pushId}: ${input.builds.length} builds`,
          version: `${input.releaseVersion}.${input.pushId}`,
          stepId: input.stepId,
        });
      } finally {
        await rm(join(tree, '..'), { recursive: true, force: true });
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

/** Fedora's pruning of an EOL release's ref: only its last commit is kept (depth 0), then the summary is regenerated. */
export async function pruneToLastCommit(repo: string, ref: string): Promise<void> {
  await ostree(['prune', `--repo=${repo}`, `--only-branch=${ref}`, '--depth=0', '--refs-only', '--commit-only']);
  await ostree(['summary', '-u', `--repo=${repo}`]);
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

/** Points `ref` at `commit` (creating it), then regenerates the summary; null `commit` deletes the ref. */
export async function setRef(repo: string, ref: string, commit: string | null): Promise<void> {
  if (commit === null) await ostree(['refs', `--repo=${repo}`, '--delete', ref]);
  else await ostree(['refs', `--repo=${repo}`, `--create=${ref}`, commit]);
  await ostree(['summary', '-u', `--repo=${repo}`]);
}
