/** Push steps 1-3: the batch from Bodhi, the builds moved in Koji, the tag's repository written and fetched. */
import { ApplicationFailure, log, patched } from '@temporalio/workflow';
import { checkedName, UNSAFE_PATH } from '../../common/safe-names.js';
import { PATCHES } from '../patches.js';
import type { FetchedRepo } from '../../activities/yum-repo.js';
import { ABORTED_BY_OPERATOR } from '../api/operator.js';
import { startDistRepo, waitForKojiTask } from '../koji-steps.js';
import { distRepoId, fetchDistRepo, fetchPushBatch, moveBuilds, releaseSigkey } from './activities.js';
import type { PushPlan, PushRun } from './run.js';

/** Step 1, batch: the updates Bodhi has requested for this release and request. */
export async function fetchBatch(run: PushRun): Promise<PushPlan> {
  const { input } = run;
  run.enter({}, `asking Bodhi for ${input.release}'s updates requested for ${input.request}`);
  const fetched = await run.gate.run('fetching the batch from Bodhi', () => fetchPushBatch({ release: input.release, request: input.request }));
  if (fetched.kind === 'skipped') throw ApplicationFailure.nonRetryable(`a push cannot go on without its batch (${fetched.reason})`, ABORTED_BY_OPERATOR);
  const batch = fetched.value;
  for (const skipped of batch.skipped) log.warn('update left out of the push', skipped);
  const { release } = batch;
  // Bodhi's words and the push's ID become mirror paths, compose IDs and refs: refused here, before anything moves.
  checkedName('release version', release.version, `Bodhi's release ${input.release}`);
  checkedName('push ID', input.pushId, 'the push');
  if (input.pushId === 'latest') throw ApplicationFailure.nonRetryable('a push may not be called "latest": that is the mirror\'s link to the published tree', UNSAFE_PATH);
  for (const tag of [release.testing_tag, release.stable_tag, release.candidate_tag, release.pending_testing_tag]) if (tag) checkedName('Koji tag', tag, `Bodhi's release ${input.release}`);
  return {
    batch,
    builds: batch.updates.flatMap((u) => u.builds),
    aliases: batch.updates.map((u) => u.alias),
    fromTag: input.request === 'stable' ? release.testing_tag : (release.pending_testing_tag ?? release.candidate_tag),
    toTag: input.request === 'stable' ? release.stable_tag : release.testing_tag,
    version: release.version,
  };
}

/** Koji multicalls of `size` builds: how the push moves builds, and how compensation moves them back. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Step 2, mash: the builds move from `fromTag` to `toTag` as Bodhi's composer moves them. */
export async function moveBuildsToTarget(run: PushRun, plan: PushPlan): Promise<void> {
  const { fromTag, toTag, builds } = plan;
  run.enter({ stage: 'mash', updates: plan.batch.updates.length, builds: builds.length }, `moving ${builds.length} builds from ${fromTag} to ${toTag}`);
  const size = run.input.mashBatch;
  const batches = chunks(builds, size);
  let moved = 0;
  for (const [i, nvrs] of batches.entries()) {
    const step = batches.length === 1 ? `moving ${nvrs.length} builds to ${toTag}` : `moving builds ${i * size + 1}–${i * size + nvrs.length} of ${builds.length} to ${toTag}`;
    const done = await run.attempt(step, async () => {
      const result = await moveBuilds({ nvrs, fromTag, toTag });
      // Recorded before the failure check: what did move must be moved back if the push fails.
      run.changes.movedBuilds.push(...result.moved.filter((nvr) => !run.changes.movedBuilds.includes(nvr)));
      if (result.failed.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${result.failed.length} of ${nvrs.length} builds not moved: ${result.failed.slice(0, 5).map((f) => `${f.nvr}: ${f.reason}`).join('; ')}${result.failed.length > 5 ? '; …' : ''}`,
          'KojiMoveFailed',
        );
      }
      return result;
    });
    // Counted once the whole batch is in the target tag (a failed batch is counted by its retry).
    if (done) run.update({ moved: (moved += done.moved.length + done.alreadyThere.length) });
  }
}

export interface WrittenRepository {
  readonly key: string;
  readonly taskId: number;
  readonly fetched: FetchedRepo;
}

/** A tag's repository written by Koji's distRepo with the release's key, then fetched: every arch, and with `inherit` the tag's whole package set. */
async function writeTagRepository(plan: PushPlan, tag: string, arches: readonly string[] | undefined, inherit: boolean): Promise<WrittenRepository> {
  const key = await releaseSigkey(`fedora-${plan.version}`);
  const { taskId } = await startDistRepo({ tag, keys: [key], ...(arches ? { arches } : {}), ...(inherit ? { inherit } : {}) });
  await waitForKojiTask(taskId);
  const repoId = await distRepoId(taskId);
  return { key, taskId, fetched: await fetchDistRepo({ tag, repoId, ...(arches ? { arches } : {}) }) };
}

/** The push's arches, in runs made since every arch is published; runs from before fetched noarch only. */
export function publishedArches(run: PushRun): readonly string[] | undefined {
  return patched(PATCHES.fedoraPublication) ? (run.input.arches ?? ['x86_64', 'aarch64']) : undefined;
}

/**
 * Step 3, repository: Koji's distRepo writes the target tag's own builds (what Fedora's updates
 * repository holds) for every arch, signed with the release's key; it is fetched here.
 */
export async function writeRepository(run: PushRun, plan: PushPlan): Promise<FetchedRepo | null> {
  const { toTag } = plan;
  const arches = publishedArches(run);
  const repo = await run.attempt(`writing the ${toTag} repository`, () => writeTagRepository(plan, toTag, arches, false), {
    as: `the ${toTag} repository`,
    meaning: 'no repository is synced',
  });
  if (repo) run.update({ repository: { tag: toTag, key: repo.key, kojiTask: repo.taskId, repoId: repo.fetched.repoId, packages: repo.fetched.builds ?? repo.fetched.packages?.length ?? 0 } });
  return repo?.fetched ?? null;
}

/**
 * The repository OSTrees are composed from: the target tag with everything it inherits (a
 * testing tree needs the stable packages too), every arch; only when a tree changed.
 */
export async function writeTreeRepository(run: PushRun, plan: PushPlan): Promise<FetchedRepo | null> {
  const { toTag } = plan;
  const repo = await run.attempt(`writing the ${toTag} repository with its inheritance, for the OSTrees`, () => writeTagRepository(plan, toTag, publishedArches(run), true), {
    as: `the ${toTag} tree repository`,
    meaning: 'no OSTree is composed',
  });
  return repo?.fetched ?? null;
}
