/**
 * A Bodhi push, step by durable step: the batch from Bodhi, the builds moved in Koji as Bodhi's
 * composer moves them, PDC's word on which artifacts those builds are in, each affected artifact
 * composed, signed and synced in a child run of its own, and `releng-o-tron.push.complete`.
 *
 * Built so far: OSTree artifacts end to end. Image kinds are looked up and reported, and are
 * composed once Koji image tasks are wired (issue 5); the operator gate, compensation and
 * telling Bodhi come with them.
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  executeChild,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { ArtifactImpact } from '../activities/pdc.js';
import { artifactKind } from '../common/artifacts/index.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { PROJECT_TOPIC, type PushCompleteMessage } from '../common/schemas/outgoing.js';
import { workflowIds } from '../common/workflow-ids.js';
import { moveBuildInKoji, startDistRepo, waitForKojiTask } from './koji-steps.js';
import { publish } from './messages.js';
import { ABORTED_BY_OPERATOR, failureText, OperatorGate, type AwaitingOperator } from './operator-gate.js';

const { fetchPushBatch, lookupImpact, resolveBodhiReleases, releaseSigkey } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '5 minutes',
  // Bodhi or PDC away: retry; a 4xx or a body that does not fit is final (non-retryable).
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20 },
  summary: 'ask Bodhi or PDC',
});

const { composeOstree } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5 },
  summary: 'commit the OSTree',
});

const { signOstreeCommit } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 5 },
  summary: 'sign with gpg and verify',
});

const { syncToMirror } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '30 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 10 },
  summary: 'rsync to the master mirror, swap latest',
});

const { removeUnpublishedTree } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
  summary: 'remove a mirror tree the push left half-synced',
});

export interface PushInput {
  /** Bodhi's release name, e.g. F29. */
  readonly release: string;
  readonly request: 'testing' | 'stable';
  /** Names this push among the release's pushes: `20261123T120000Z`. */
  readonly pushId: string;
  /** The OSTree ref; `{version}` becomes the release's version. */
  readonly ostreeRef: string;
  /** Whether a signing key is configured; without one nothing is signed and the message says so. */
  readonly sign: boolean;
  /** While the run waits for an operator, a reminder goes out on the bus this often. */
  readonly operatorReminderMs: number;
}

/** How pushes are carried out, from config; the same for every release in a Bodhi push. */
export type PushSettings = Pick<PushInput, 'ostreeRef' | 'sign' | 'operatorReminderMs'>;

export type PushStage = 'batch' | 'mash' | 'impact' | 'compose' | 'announce' | 'done' | 'compensating' | 'failed';

export interface PushStatus {
  readonly stage: PushStage;
  readonly updates: number;
  readonly builds: number;
  readonly moved: number;
  readonly impact: readonly ArtifactImpact[];
  readonly artifacts: PushCompleteMessage['artifacts'];
  /** The failed steps the run waits on an operator for. */
  readonly awaitingOperator: readonly AwaitingOperator[];
  /** Steps an operator chose to skip, and why. */
  readonly skipped: readonly string[];
  /** What was undone after the push failed or was aborted. */
  readonly compensated: readonly string[];
  /** The repository Koji wrote for the target tag. */
  readonly repository: { readonly tag: string; readonly key: string; readonly kojiTask: number } | null;
}

export const pushStatusQuery = defineQuery<PushStatus>('status');

export interface ComposeArtifactInput {
  readonly kind: string;
  readonly pushId: string;
  readonly releaseVersion: string;
  readonly ref: string;
  readonly builds: readonly string[];
  readonly reasons: readonly string[];
  readonly sign: boolean;
}

/** One artifact of a push: compose, sign, sync. */
export async function composeArtifact(input: ComposeArtifactInput): Promise<PushCompleteMessage['artifacts'][number]> {
  const kind = artifactKind(input.kind);
  if (kind.compose.method !== 'ostree') {
    return { kind: kind.kind, state: 'not-composed', reasons: [...input.reasons, `composing ${kind.kind} through Koji image tasks is not built yet`] };
  }
  setCurrentDetails(`**composing** ${input.ref}`);
  const commit = await composeOstree({ ref: input.ref, releaseVersion: input.releaseVersion, pushId: input.pushId, builds: input.builds, stepId: `${workflowInfo().workflowId}/compose` });
  let signedBy: string | null = null;
  if (input.sign) {
    setCurrentDetails(`**signing** ${commit.commit}`);
    signedBy = (await signOstreeCommit({ repo: commit.repo, commit: commit.commit })).keyId;
  }
  setCurrentDetails(`**syncing** ${commit.commit} to the mirror`);
  const synced = await syncToMirror({ source: commit.repo, path: kind.mirrorPath(input.releaseVersion, 'x86_64'), name: input.pushId });
  setCurrentDetails(`**done**: ${input.ref} → ${commit.commit}, ${signedBy ? `signed by ${signedBy}` : 'unsigned'}, mirror ${synced.dest}`);
  return { kind: kind.kind, state: 'composed', reasons: [...input.reasons], commit: commit.commit, signed_by: signedBy, mirror: synced.dest };
}

const componentOf = (nvr: string): string => nvr.replace(/-[^-]+-[^-]+$/, '');

export async function push(input: PushInput): Promise<PushCompleteMessage> {
  const { workflowId } = workflowInfo();
  let status: PushStatus = { stage: 'batch', updates: 0, builds: 0, moved: 0, impact: [], artifacts: [], awaitingOperator: [], skipped: [], compensated: [], repository: null };
  const gate = new OperatorGate(input.operatorReminderMs, (waiting) =>
    publish({
      topic: `${PROJECT_TOPIC}.push.waiting`,
      body: {
        push_id: input.pushId, release: input.release, request: input.request, workflow_id: workflowId, ...waiting,
        decide: `relengotron runs decide ${workflowId} retry|skip|abort --reason "..."`,
      },
    }).then(() => undefined),
  );
  setHandler(pushStatusQuery, () => ({ ...status, awaitingOperator: gate.waiting }), {
    description: 'Stage, updates and builds, builds moved, PDC impact with reasons, artifacts, and the step waiting for an operator.',
  });
  const skip = (what: string, reason: string) => {
    status = { ...status, skipped: [...status.skipped, `${what}: ${reason}`] };
  };
  const enter = (next: Partial<PushStatus>, details: string) => {
    status = { ...status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.stage }]);
    setCurrentDetails(`**${status.stage}**: ${details}`);
  };

  enter({}, `asking Bodhi for ${input.release}'s updates requested for ${input.request}`);
  const fetched = await gate.run('fetching the batch from Bodhi', () => fetchPushBatch({ release: input.release, request: input.request }));
  if (fetched.kind === 'skipped') throw ApplicationFailure.nonRetryable(`a push cannot go on without its batch (${fetched.reason})`, ABORTED_BY_OPERATOR);
  const batch = fetched.value;
  const builds = batch.updates.flatMap((u) => u.builds);
  for (const skipped of batch.skipped) log.warn('update left out of the push', skipped);
  if (builds.length === 0) {
    // Nothing requested (or everything left out): a push with nothing to do, said plainly.
    const empty: PushCompleteMessage = { push_id: input.pushId, release: input.release, request: input.request, workflow_id: workflowId, updates: [], artifacts: [], tests: [] };
    await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: empty });
    enter({ stage: 'done' }, `${input.release} has no updates requested for ${input.request}${batch.skipped.length ? ` (${batch.skipped.length} left out)` : ''}`);
    return empty;
  }

  // Bodhi's composer: stable builds leave the testing tag; testing builds leave the pending tags.
  const fromTag = input.request === 'stable' ? batch.release.testing_tag : (batch.release.pending_testing_tag ?? batch.release.candidate_tag);
  const toTag = input.request === 'stable' ? batch.release.stable_tag : batch.release.testing_tag;
  enter({ stage: 'mash', updates: batch.updates.length, builds: builds.length }, `moving ${builds.length} builds from ${fromTag} to ${toTag}`);
  // What this run changed, to undo if it fails or is aborted later (a saga's compensation).
  const movedByThisRun: string[] = [];
  const mirrorTrees: { path: string; name: string }[] = [];
  try {
    return await pushAfterBatch();
  } catch (err) {
    await CancellationScope.nonCancellable(async () => {
      enter({ stage: 'compensating' }, `${failureText(err)}; undoing what this push changed`);
      const undone: string[] = [];
      await Promise.all(
        movedByThisRun.map(async (nvr) => {
          await moveBuildInKoji({ nvr, fromTag: toTag, toTag: fromTag });
          undone.push(`${nvr} moved back to ${fromTag}`);
        }),
      );
      for (const tree of mirrorTrees) {
        if ((await removeUnpublishedTree(tree)).removed) undone.push(`half-synced ${tree.path}/${tree.name} removed`);
      }
      status = { ...status, compensated: undone };
      enter({ stage: 'failed' }, `${failureText(err)}\n\nUndone: ${undone.join('; ') || 'nothing needed undoing'}`);
    });
    throw err;
  }

  async function pushAfterBatch(): Promise<PushCompleteMessage> {
    let moved = 0;
    await Promise.all(
      builds.map(async (nvr) => {
        const outcome = await gate.run(`moving ${nvr} to ${toTag}`, () => moveBuildInKoji({ nvr, fromTag, toTag }, () => movedByThisRun.push(nvr)));
        if (outcome.kind === 'skipped') return skip(`moving ${nvr}`, outcome.reason);
        moved++;
        status = { ...status, moved };
      }),
    );

    // Bodhi's composer then had the repository written (pungi); here Koji's distRepo, with the release's key.
    const repo = await gate.run(`writing the ${toTag} repository`, async () => {
      const key = await releaseSigkey(`fedora-${batch.release.version}`);
      const { taskId } = await startDistRepo({ tag: toTag, keys: [key] });
      await waitForKojiTask(taskId);
      return { key, taskId };
    });
    if (repo.kind === 'skipped') skip(`the ${toTag} repository`, repo.reason);
    else status = { ...status, repository: { tag: toTag, key: repo.value.key, kojiTask: repo.value.taskId } };

    enter({ stage: 'impact' }, 'asking PDC which artifacts contain these builds');
    const looked = await gate.run('asking PDC what changed', () =>
      lookupImpact({ pdcRelease: `fedora-${batch.release.version}`, builds: builds.map((nvr) => ({ nvr, component: componentOf(nvr) })) }),
    );
    if (looked.kind === 'skipped') skip('the impact lookup', `${looked.reason}; nothing recomposed`);
    const impact = looked.kind === 'done' ? looked.value : [];
    const affected = impact.filter((i) => i.affected);
    enter({ stage: 'compose', impact }, `${affected.length} of ${impact.length} artifact kinds changed: ${affected.map((i) => i.kind).join(', ') || 'none'}`);

    const composed = await Promise.all(
      affected.map(async (i) => {
        mirrorTrees.push({ path: artifactKind(i.kind).mirrorPath(batch.release.version, 'x86_64'), name: input.pushId });
        const outcome = await gate.run(`composing ${i.kind}`, () =>
          executeChild(composeArtifact, {
            // From the input, not workflowInfo(): the same ID however the run is replayed.
            workflowId: workflowIds.pushArtifact(workflowIds.push(input.release, input.request, input.pushId), i.kind),
            args: [{ kind: i.kind, pushId: input.pushId, releaseVersion: batch.release.version, ref: input.ostreeRef.replaceAll('{version}', batch.release.version), builds, reasons: i.reasons, sign: input.sign }],
            staticSummary: `${i.kind} for push ${input.pushId} of ${input.release} ${input.request}`,
            staticDetails: `Why: ${i.reasons.join('; ')}`,
          }),
        );
        if (outcome.kind === 'done') return outcome.value;
        skip(`composing ${i.kind}`, outcome.reason);
        return { kind: i.kind, state: 'not-composed' as const, reasons: [...i.reasons, `skipped by an operator: ${outcome.reason}`] };
      }),
    );
    const artifacts: PushCompleteMessage['artifacts'] = [
      ...composed,
      ...impact.filter((i) => !i.affected).map((i) => ({ kind: i.kind, state: 'unchanged' as const, reasons: [...i.reasons] })),
    ];

    enter({ stage: 'announce', artifacts }, 'publishing releng-o-tron.push.complete');
    const message: PushCompleteMessage = {
      push_id: input.pushId,
      release: input.release,
      request: input.request,
      workflow_id: workflowId,
      updates: batch.updates.map((u) => ({ alias: u.alias, builds: [...u.builds] })),
      artifacts,
      tests: [],
    };
    await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: message });
    enter({ stage: 'done' }, `${builds.length} builds to ${toTag}; ${composed.filter((a) => a.state === 'composed').length} artifacts composed`);
    return message;
  }
}

export interface BodhiPushInput extends PushSettings {
  /** The push's ID, from the message's time: `20190627T000005Z`. */
  readonly pushId: string;
  /** `bodhi.composer.start`'s composes: one per release and request. */
  readonly composes: readonly { readonly release_id: number; readonly request: string; readonly content_type: string; readonly security: boolean }[];
}

export interface BodhiPushResult {
  readonly pushes: readonly { readonly release: string; readonly request: string; readonly workflowId: string; readonly outcome: 'complete' | 'failed'; readonly detail: string }[];
  readonly skipped: readonly { readonly release_id: number; readonly request: string; readonly content_type: string; readonly reason: string }[];
}

/**
 * One Bodhi push (`bodhi.composer.start`): a child push per release and request it names,
 * in parallel, as Bodhi's composer ran one thread per compose.
 */
export async function bodhiPush(input: BodhiPushInput): Promise<BodhiPushResult> {
  const names = await resolveBodhiReleases([...new Set(input.composes.map((c) => c.release_id))]);
  const skipped: BodhiPushResult['skipped'][number][] = [];
  const wanted: { release: string; request: 'testing' | 'stable' }[] = [];
  for (const c of input.composes) {
    const name = names[String(c.release_id)];
    const reason =
      c.content_type !== 'rpm' ? `${c.content_type} content is not pushed by releng-o-tron yet`
      : c.request !== 'testing' && c.request !== 'stable' ? `request ${c.request} is not a push`
      : !name ? `Bodhi knows no release with id ${c.release_id}`
      : null;
    if (reason || !name) skipped.push({ ...c, reason: reason ?? 'unknown release' });
    else wanted.push({ release: name, request: c.request as 'testing' | 'stable' });
  }
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'pushing' }]);
  setCurrentDetails(`**pushing** ${wanted.map((w) => `${w.release} ${w.request}`).join(', ') || 'nothing'}; ${skipped.length} compose(s) not handled`);
  const settled = await Promise.allSettled(
    wanted.map((w) =>
      executeChild(push, {
        workflowId: workflowIds.push(w.release, w.request, input.pushId),
        args: [{ release: w.release, request: w.request, pushId: input.pushId, ostreeRef: input.ostreeRef, sign: input.sign, operatorReminderMs: input.operatorReminderMs }],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.release, value: w.release }],
        staticSummary: `Push ${w.release} ${w.request} (${input.pushId})`,
      }),
    ),
  );
  const pushes = wanted.map((w, i) => {
    const result = settled[i]!;
    const workflowId = workflowIds.push(w.release, w.request, input.pushId);
    return result.status === 'fulfilled'
      ? { ...w, workflowId, outcome: 'complete' as const, detail: `${result.value.updates.length} updates, ${result.value.artifacts.filter((a) => a.state === 'composed').length} artifacts composed` }
      : { ...w, workflowId, outcome: 'failed' as const, detail: failureText(result.reason) };
  });
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  setCurrentDetails(`**done**: ${pushes.map((p) => `${p.release} ${p.request}: ${p.outcome}`).join(', ') || 'nothing pushed'}`);
  return { pushes, skipped };
}
