/**
 * A Bodhi push, step by durable step: the batch from Bodhi; the builds moved in Koji as Bodhi's
 * composer moves them (multicall batches) and the tag's repository written; PDC's word on which
 * artifacts those builds are in; each affected artifact composed in a child run (an OSTree
 * commit, or a Koji image build); the images gathered into a compose and tested by the
 * compose-testing runs, with the push going on only when `testPolicy` is satisfied; then CHECKSUM
 * files and commits signed, everything synced to the master mirror, Bodhi told, and
 * `releng-o-tron.push.complete`. A step that still fails after its retries waits for an operator;
 * a push that fails or is aborted undoes what it changed.
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
import type { ImageFile } from '../activities/koji.js';
import type { AffectedArtifact, ImpactReport } from '../activities/pdc.js';
import type { PushCompose } from '../activities/push-compose.js';
import { artifactKind } from '../common/artifacts/index.js';
import { decidePushTests, testsRequired, type PolicyDecision, type TestRequirement } from '../common/push-policy.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { PROJECT_TOPIC, type PushCompleteMessage } from '../common/schemas/outgoing.js';
import { workflowIds } from '../common/workflow-ids.js';
import { composeTest } from './compose-test.js';
import { startDistRepo, waitForKojiTask } from './koji-steps.js';
import { publish } from './messages.js';
import { ABORTED_BY_OPERATOR, failureText, OperatorGate, type AwaitingOperator } from './operator-gate.js';

const { fetchPushBatch, lookupImpact, resolveBodhiReleases, releaseSigkey, reportPushToBodhi } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '30 minutes',
  // lookupImpact makes thousands of requests for a big push; it heartbeats per component.
  heartbeatTimeout: '2 minutes',
  // Bodhi or PDC away: retry; a 4xx or a body that does not fit is final (non-retryable).
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20 },
  summary: 'ask Bodhi or PDC',
});

const { distRepoId } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: "read the repository ID from Koji's distRepo task",
});

const { fetchDistRepo } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'fetch the mashed repository (sha256 checked)',
});

const { moveBuilds } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  // Watches a batch's Koji tasks; a retry resumes the tasks the heartbeat names.
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'move a batch of builds in Koji (multicall)',
});

const { composeOstree } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5 },
  summary: 'commit the OSTree',
});

const { startImageBuild, imageBuildOutput } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'Koji image build',
});

const { assemblePushCompose } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: "download Koji's images into the push compose, write CHECKSUM and metadata",
});

const { signOstreeCommit, signChecksumFile, signRepoMetadata } = proxyActivities<RelengActivities>({
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

/** How Koji builds images for a push; `{version}` is the release's version. */
export interface ImageBuildSettings {
  readonly target: string;
  readonly installTree: string;
  readonly ksurl: string;
  readonly distro: string;
}

export interface PushInput {
  /** Bodhi's release name, e.g. F29. */
  readonly release: string;
  readonly request: 'testing' | 'stable';
  /** Names this push among the release's pushes: `20261123T120000Z`. */
  readonly pushId: string;
  /** The OSTree ref; `{version}`, `{arch}` and `{name}` (the tree) are filled in. */
  readonly ostreeRef: string;
  /** Whether a signing key is configured; without one nothing is signed and the message says so. */
  readonly sign: boolean;
  /** While the run waits for an operator, a reminder goes out on the bus this often. */
  readonly operatorReminderMs: number;
  readonly imageBuild: ImageBuildSettings;
  /** What must pass before the push signs and publishes. */
  readonly testPolicy: readonly TestRequirement[];
  /** Builds per Koji multicall. */
  readonly mashBatch: number;
}

/** How pushes are carried out, from config; the same for every release in a Bodhi push. */
export type PushSettings = Pick<PushInput, 'ostreeRef' | 'sign' | 'operatorReminderMs' | 'imageBuild' | 'testPolicy' | 'mashBatch'>;

export type PushStage = 'batch' | 'mash' | 'impact' | 'compose' | 'test' | 'sign' | 'sync' | 'announce' | 'done' | 'compensating' | 'failed';

/** An affected artifact as the status shows it (its reasons are in `impact`). */
export interface ArtifactSummary {
  readonly artifact: string;
  readonly kind: string;
  readonly builds: number;
  readonly reasons: readonly string[];
}

export interface PushStatus {
  readonly stage: PushStage;
  readonly updates: number;
  readonly builds: number;
  readonly moved: number;
  readonly impact: { readonly affected: readonly ArtifactSummary[]; readonly unchanged: ImpactReport['unchanged'] } | null;
  readonly compose: { readonly composeId: string; readonly location: string } | null;
  readonly policy: PolicyDecision | null;
  readonly artifacts: PushCompleteMessage['artifacts'];
  /** The failed steps the run waits on an operator for. */
  readonly awaitingOperator: readonly AwaitingOperator[];
  /** Steps an operator chose to skip, and why. */
  readonly skipped: readonly string[];
  /** What was undone after the push failed or was aborted. */
  readonly compensated: readonly string[];
  /** The repository Koji wrote for the target tag, fetched to the releng host. */
  readonly repository: { readonly tag: string; readonly key: string; readonly kojiTask: number; readonly repoId: number; readonly packages: number } | null;
}

export const pushStatusQuery = defineQuery<PushStatus>('status');

/** `cloud-qcow2/Fedora-Cloud-Base.x86_64` */
const artifactName = (a: Pick<AffectedArtifact, 'kind' | 'name' | 'arch'>): string => `${a.kind}/${a.name}.${a.arch}`;

export interface ComposeTreeInput {
  readonly tree: Pick<AffectedArtifact, 'kind' | 'name' | 'arch' | 'builds'>;
  /** The builds' RPMs in the mashed repository, on the releng hosts' shared work dir. */
  readonly rpms: readonly string[];
  readonly pushId: string;
  readonly releaseVersion: string;
  readonly ostreeRef: string;
}

export interface ComposedTree {
  readonly artifact: string;
  readonly kind: string;
  readonly arch: string;
  readonly ref: string;
  readonly commit: string;
  readonly repo: string;
}

/** The Koji release of a push's image builds: `20261123.120000` from `20261123T120000Z`. */
export function imageRelease(pushId: string): string {
  const stamp = /^(\d{8})T(\d{6})Z$/.exec(pushId);
  return stamp ? `${stamp[1]}.${stamp[2]}` : pushId.replace(/[^A-Za-z0-9._+]/g, '.');
}

const fillTemplate = (template: string, values: { version: string; arch?: string; name?: string }) =>
  template.replaceAll('{version}', values.version).replaceAll('{arch}', values.arch ?? '$arch').replaceAll('{name}', values.name ?? '');

/** One OSTree of a push, committed from the builds PDC says it includes. */
export async function composeTree(input: ComposeTreeInput): Promise<ComposedTree> {
  const { tree } = input;
  const ref = fillTemplate(input.ostreeRef, { version: input.releaseVersion, arch: tree.arch, name: tree.name });
  setCurrentDetails(`**committing** ${ref} from ${tree.builds.length} builds (${input.rpms.length} RPMs)`);
  const commit = await composeOstree({ ref, releaseVersion: input.releaseVersion, pushId: input.pushId, builds: tree.builds, rpms: input.rpms, stepId: `${workflowInfo().workflowId}/compose` });
  setCurrentDetails(`**done**: ${ref} → ${commit.commit}`);
  return { artifact: artifactName(tree), kind: tree.kind, arch: tree.arch, ref, commit: commit.commit, repo: commit.repo };
}

export interface BuildImageInput {
  /** The image build's name: Fedora-Cloud-Base. */
  readonly name: string;
  readonly arches: readonly string[];
  /** Koji formats, one per artifact kind that needs this image. */
  readonly formats: readonly string[];
  readonly pushId: string;
  readonly releaseVersion: string;
  readonly imageBuild: ImageBuildSettings;
}

export interface BuiltImage {
  readonly nvr: string;
  readonly kojiTask: number | null;
  readonly files: readonly ImageFile[];
}

/** One image build of a push in Koji (`image-build`): every arch and format its artifacts need, as Koji builds them, at once. */
export async function buildImage(input: BuildImageInput): Promise<BuiltImage> {
  const values = { version: input.releaseVersion };
  const build = {
    name: input.name, version: input.releaseVersion, release: imageRelease(input.pushId), arches: input.arches, formats: input.formats,
    target: fillTemplate(input.imageBuild.target, values), installTree: fillTemplate(input.imageBuild.installTree, values),
    ksurl: fillTemplate(input.imageBuild.ksurl, values), distro: fillTemplate(input.imageBuild.distro, values), kickstart: `${input.name.toLowerCase()}.ks`,
  };
  setCurrentDetails(`**asking Koji** for ${build.name}-${build.version}-${build.release} (${input.formats.join(', ')} for ${input.arches.join(', ')})`);
  const started = await startImageBuild(build);
  if (started.taskId !== null) {
    setCurrentDetails(`**Koji is building** ${started.nvr}: task ${started.taskId}`);
    await waitForKojiTask(started.taskId);
  }
  const output = await imageBuildOutput(started);
  setCurrentDetails(`**done**: ${output.nvr}: ${output.files.map((f) => f.filename).join(', ')}`);
  return { nvr: output.nvr, kojiTask: started.taskId, files: output.files };
}

/** The file of an image build that is this artifact: its arch and its kind's format. */
function artifactFiles(artifact: Pick<AffectedArtifact, 'kind' | 'arch'>, built: BuiltImage): ImageFile[] {
  const kind = artifactKind(artifact.kind);
  if (kind.compose.method !== 'koji-image') return [];
  const suffix = `.${artifact.arch}.${kind.compose.fileSuffix}`;
  return built.files.filter((f) => f.arch === artifact.arch && f.filename.endsWith(suffix));
}

const componentOf = (nvr: string): string => nvr.replace(/-[^-]+-[^-]+$/, '');

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function push(input: PushInput): Promise<PushCompleteMessage> {
  const { workflowId } = workflowInfo();
  let status: PushStatus = {
    stage: 'batch', updates: 0, builds: 0, moved: 0, impact: null, compose: null, policy: null, artifacts: [],
    awaitingOperator: [], skipped: [], compensated: [], repository: null,
  };
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
    description: 'Stage; updates, builds and builds moved; PDC impact with reasons; the push compose and the test policy decision; artifacts; the steps waiting for an operator.',
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
  const aliases = batch.updates.map((u) => u.alias);
  for (const skipped of batch.skipped) log.warn('update left out of the push', skipped);
  const baseMessage = { push_id: input.pushId, release: input.release, request: input.request, workflow_id: workflowId };
  if (builds.length === 0) {
    // Nothing requested (or everything left out): a push with nothing to do, said plainly.
    const empty: PushCompleteMessage = { ...baseMessage, updates: [], artifacts: [], tests: [] };
    await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: empty });
    enter({ stage: 'done' }, `${input.release} has no updates requested for ${input.request}${batch.skipped.length ? ` (${batch.skipped.length} left out)` : ''}`);
    return empty;
  }

  // Bodhi's composer: stable builds leave the testing tag; testing builds leave the pending tags.
  const fromTag = input.request === 'stable' ? batch.release.testing_tag : (batch.release.pending_testing_tag ?? batch.release.candidate_tag);
  const toTag = input.request === 'stable' ? batch.release.stable_tag : batch.release.testing_tag;
  const version = batch.release.version;
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
      for (const batchOfBuilds of chunks(movedByThisRun, input.mashBatch)) {
        const back = await moveBuilds({ nvrs: batchOfBuilds, fromTag: toTag, toTag: fromTag });
        for (const nvr of [...back.moved, ...back.alreadyThere]) undone.push(`${nvr} moved back to ${fromTag}`);
        for (const f of back.failed) undone.push(`${f.nvr} could NOT be moved back to ${fromTag}: ${f.reason}`);
      }
      for (const tree of mirrorTrees) {
        if ((await removeUnpublishedTree(tree)).removed) undone.push(`half-synced ${tree.path}/${tree.name} removed`);
      }
      status = { ...status, compensated: undone };
      const told = await reportPushToBodhi({ release: input.release, request: input.request, state: 'failed', updates: aliases, errorMessage: failureText(err) }).then(
        () => 'Bodhi told the push failed',
        (e: unknown) => `Bodhi could not be told: ${failureText(e)}`,
      );
      enter({ stage: 'failed' }, `${failureText(err)}\n\nUndone: ${undone.join('; ') || 'nothing needed undoing'}. ${told}.`);
    });
    throw err;
  }

  async function pushAfterBatch(): Promise<PushCompleteMessage> {
    const batches = chunks(builds, input.mashBatch);
    let moved = 0;
    for (const [i, nvrs] of batches.entries()) {
      const label = batches.length === 1 ? `moving ${nvrs.length} builds to ${toTag}` : `moving builds ${i * input.mashBatch + 1}–${i * input.mashBatch + nvrs.length} of ${builds.length} to ${toTag}`;
      const outcome = await gate.run(label, async () => {
        const result = await moveBuilds({ nvrs, fromTag, toTag });
        movedByThisRun.push(...result.moved.filter((nvr) => !movedByThisRun.includes(nvr)));
        moved += result.moved.length + result.alreadyThere.length;
        status = { ...status, moved };
        if (result.failed.length > 0) {
          moved -= result.moved.length + result.alreadyThere.length; // counted again by the retry
          throw ApplicationFailure.nonRetryable(
            `${result.failed.length} of ${nvrs.length} builds not moved: ${result.failed.slice(0, 5).map((f) => `${f.nvr}: ${f.reason}`).join('; ')}${result.failed.length > 5 ? '; …' : ''}`,
            'KojiMoveFailed',
          );
        }
      });
      if (outcome.kind === 'skipped') skip(label, outcome.reason);
    }
    status = { ...status, moved };

    // Bodhi's composer then had the repository written (pungi); here Koji's distRepo, with the release's key.
    const repo = await gate.run(`writing the ${toTag} repository`, async () => {
      const key = await releaseSigkey(`fedora-${version}`);
      const { taskId } = await startDistRepo({ tag: toTag, keys: [key] });
      await waitForKojiTask(taskId);
      const repoId = await distRepoId(taskId);
      return { key, taskId, fetched: await fetchDistRepo({ tag: toTag, repoId }) };
    });
    if (repo.kind === 'skipped') skip(`the ${toTag} repository`, `${repo.reason}; OSTrees get only the build manifest and no repository is synced`);
    else status = { ...status, repository: { tag: toTag, key: repo.value.key, kojiTask: repo.value.taskId, repoId: repo.value.fetched.repoId, packages: repo.value.fetched.packages.length } };
    const mashed = repo.kind === 'done' ? repo.value.fetched : null;
    const rpmsOf = (nvrs: readonly string[]) => (mashed ? mashed.packages.filter((p) => nvrs.includes(p.nvr)).map((p) => `${mashed.dir}/noarch/${p.location}`) : []);

    enter({ stage: 'impact' }, 'asking PDC which artifacts contain these builds');
    const looked = await gate.run('asking PDC what changed', () =>
      lookupImpact({ pdcRelease: `fedora-${version}`, builds: builds.map((nvr) => ({ nvr, component: componentOf(nvr) })) }),
    );
    if (looked.kind === 'skipped') skip('the impact lookup', `${looked.reason}; nothing recomposed`);
    const impact: ImpactReport = looked.kind === 'done' ? looked.value : { affected: [], unchanged: [] };
    const affected = impact.affected;
    enter(
      {
        stage: 'compose',
        impact: { affected: affected.map((a) => ({ artifact: artifactName(a), kind: a.kind, builds: a.builds.length, reasons: a.reasons.slice(0, 20) })), unchanged: impact.unchanged },
      },
      `${affected.length} artifacts changed (${[...new Set(affected.map((a) => a.kind))].join(', ') || 'none'}); unchanged kinds: ${impact.unchanged.map((u) => u.kind).join(', ') || 'none'}`,
    );

    const pushWorkflowId = workflowIds.push(input.release, input.request, input.pushId);
    const trees = affected.filter((a) => artifactKind(a.kind).compose.method === 'ostree');
    const imageArtifacts = affected.filter((a) => artifactKind(a.kind).compose.method === 'koji-image');
    // Koji builds an image once for all its arches and formats: one child per image build name.
    const imageBuilds = [...new Set(imageArtifacts.map((a) => a.name))].map((name) => {
      const members = imageArtifacts.filter((a) => a.name === name);
      const formats = members.map((a) => artifactKind(a.kind).compose).flatMap((c) => (c.method === 'koji-image' ? [c.format] : []));
      return { name, members, arches: [...new Set(members.map((a) => a.arch))].sort(), formats: [...new Set(formats)].sort() };
    });
    const [treeOutcomes, imageOutcomes] = await Promise.all([
      Promise.all(
        trees.map(async (a) => {
          const name = artifactName(a);
          const outcome = await gate.run(`composing ${name}`, () =>
            executeChild(composeTree, {
              // From the input, not workflowInfo(): the same ID however the run is replayed.
              workflowId: workflowIds.pushArtifact(pushWorkflowId, name),
              args: [{ tree: { kind: a.kind, name: a.name, arch: a.arch, builds: a.builds }, rpms: rpmsOf(a.builds), pushId: input.pushId, releaseVersion: version, ostreeRef: input.ostreeRef }],
              staticSummary: `${name} for push ${input.pushId} of ${input.release} ${input.request}`,
              staticDetails: `Why: ${a.reasons.slice(0, 10).join('; ')}${a.reasons.length > 10 ? `; and ${a.reasons.length - 10} more` : ''}`,
            }),
          );
          if (outcome.kind === 'skipped') skip(`composing ${name}`, outcome.reason);
          return { artifact: a, outcome };
        }),
      ),
      Promise.all(
        imageBuilds.map(async (b) => {
          const outcome = await gate.run(`building image ${b.name}`, () =>
            executeChild(buildImage, {
              workflowId: workflowIds.pushArtifact(pushWorkflowId, `koji-image/${b.name}`),
              args: [{ name: b.name, arches: b.arches, formats: b.formats, pushId: input.pushId, releaseVersion: version, imageBuild: input.imageBuild }],
              staticSummary: `Koji image build ${b.name} (${b.formats.join(', ')}; ${b.arches.join(', ')}) for push ${input.pushId}`,
              staticDetails: `For ${b.members.map(artifactName).join(', ')}`,
            }),
          );
          if (outcome.kind === 'skipped') skip(`building image ${b.name}`, outcome.reason);
          return { build: b, outcome };
        }),
      ),
    ]);
    const composedTrees = treeOutcomes.flatMap((t) => (t.outcome.kind === 'done' ? [t.outcome.value] : []));
    const images = imageOutcomes.flatMap(({ build, outcome }) =>
      outcome.kind === 'done' ? build.members.map((a) => ({ artifact: a, built: outcome.value, files: artifactFiles(a, outcome.value) })) : [],
    );

    // The images as one compose: what the tests fetch and what the mirror receives.
    let pushCompose: PushCompose | null = null;
    if (images.length > 0) {
      const assembled = await gate.run('gathering the images into the push compose', () =>
        assemblePushCompose({
          pushWorkflowId: workflowId,
          release: { name: 'Fedora', short: 'Fedora', version },
          releaseType: input.request === 'stable' ? 'updates' : 'updates-testing',
          date: /^\d{8}/.exec(input.pushId)?.[0] ?? workflowInfo().startTime.toISOString().slice(0, 10).replaceAll('-', ''),
          images: images.flatMap(({ artifact: a, files }) => {
            const kind = artifactKind(a.kind);
            if (kind.compose.method !== 'koji-image') return [];
            const { productmd } = kind.compose;
            const dir = kind.compose.dir(a.arch);
            return files.map((file) => ({ dir, type: productmd.type, format: productmd.format, subvariant: a.name.replace(/^Fedora-/, '').replaceAll('-', '_'), file }));
          }),
        }),
      );
      if (assembled.kind === 'skipped') skip('the push compose', `${assembled.reason}; images not tested, signed or synced`);
      else pushCompose = assembled.value;
    }
    const testedArtifacts = pushCompose ? images.flatMap(({ artifact: a, files }) => files.map((f) => ({ artifact: artifactName(a), kind: a.kind, fileName: f.filename }))) : [];

    // Greenwave's role: the push goes on only when every required test passed.
    let tests: PushCompleteMessage['tests'] = [];
    let policy: PolicyDecision & { skippedBy?: string } = { satisfied: true, passed: [], unsatisfied: [] };
    if (pushCompose && testsRequired(input.testPolicy, images.map((i) => i.artifact.kind))) {
      const compose = pushCompose;
      enter({ stage: 'test', compose: { composeId: compose.composeId, location: compose.location } }, `testing ${compose.composeId}: ${testedArtifacts.length} images`);
      const decided = await gate.run(`testing the images of ${compose.composeId}`, async () => {
        const result = await executeChild(composeTest, {
          workflowId: workflowIds.composeTest(compose.composeId),
          args: [{ composeId: compose.composeId, location: compose.location, pungiStatus: 'FINISHED' }],
          typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.composeId, value: compose.composeId }],
          staticSummary: `Test the images of push ${input.pushId} (${input.release} ${input.request})`,
        });
        tests = result.jobs.map((j) => ({
          artifact: testedArtifacts.find((t) => t.fileName === j.fileName)?.artifact ?? j.fileName,
          testcase: `compose.image.boot-and-plan.${j.provider}`,
          outcome: j.status,
          job: j.jobId,
        }));
        const decision = decidePushTests(input.testPolicy, testedArtifacts, result.jobs);
        status = { ...status, policy: decision };
        if (!decision.satisfied) throw ApplicationFailure.nonRetryable(`push.testPolicy is not satisfied: ${decision.unsatisfied.join('; ')}`, 'TestPolicyUnsatisfied');
        return decision;
      });
      if (decided.kind === 'done') policy = decided.value;
      else {
        policy = { ...(status.policy ?? { satisfied: false, passed: [], unsatisfied: [] }), skippedBy: decided.reason };
        skip('the test policy', decided.reason);
      }
    } else if (pushCompose) {
      policy = { satisfied: true, passed: [`no test required by push.testPolicy for ${[...new Set(images.map((i) => i.artifact.kind))].join(', ')}`], unsatisfied: [] };
    }
    status = { ...status, policy };

    let signedBy: string | null = null;
    if (input.sign) {
      enter({ stage: 'sign' }, `signing the repository metadata, ${pushCompose?.imageDirs.length ?? 0} CHECKSUM files and ${composedTrees.length} OSTree commits`);
      if (mashed) {
        const signed = await gate.run(`signing the ${toTag} repository metadata`, () => signRepoMetadata({ file: `${mashed.dir}/noarch/repodata/repomd.xml` }));
        if (signed.kind === 'done') signedBy = signed.value.keyId;
        else skip(`signing the ${toTag} repository metadata`, signed.reason);
      }
      for (const dir of pushCompose?.imageDirs ?? []) {
        const signed = await gate.run(`signing ${dir}/CHECKSUM`, () => signChecksumFile({ file: `${pushCompose!.composeDir}/${dir}/CHECKSUM` }));
        if (signed.kind === 'done') signedBy = signed.value.keyId;
        else skip(`signing ${dir}/CHECKSUM`, signed.reason);
      }
      for (const c of composedTrees) {
        const signed = await gate.run(`signing ${c.ref} ${c.commit}`, () => signOstreeCommit({ repo: c.repo, commit: c.commit }));
        if (signed.kind === 'done') signedBy = signed.value.keyId;
        else skip(`signing ${c.commit}`, signed.reason);
      }
    }

    enter({ stage: 'sync' }, 'rsync to the master mirror');
    const mirrored = new Map<string, string>();
    const sync = async (source: string, path: string) => {
      mirrorTrees.push({ path, name: input.pushId });
      const synced = await gate.run(`syncing ${path}`, () => syncToMirror({ source, path, name: input.pushId }));
      if (synced.kind === 'done') mirrored.set(path, synced.value.dest);
      else skip(`syncing ${path}`, synced.reason);
    };
    // The updates repository where Fedora's mirrors have it: updates/<version>/ or updates/testing/<version>/.
    const repoMirrorPath = `updates/${input.request === 'testing' ? 'testing/' : ''}${version}/Everything`;
    if (mashed) await sync(mashed.dir, repoMirrorPath);
    for (const dir of pushCompose?.imageDirs ?? []) await sync(`${pushCompose!.composeDir}/${dir}`, `${version}/${dir}`);
    for (const c of composedTrees) await sync(c.repo, artifactKind(c.kind).mirrorPath(version, c.arch));

    const signer = (signedSomething: boolean) => (input.sign && signedSomething ? signedBy : null);
    const artifacts: PushCompleteMessage['artifacts'] = [
      ...treeOutcomes.map(({ artifact: a, outcome }): PushCompleteMessage['artifacts'][number] => {
        const base = { kind: a.kind, artifact: artifactName(a), reasons: a.reasons.slice(0, 50) };
        if (outcome.kind === 'skipped') return { ...base, state: 'not-composed', reasons: [...base.reasons, `skipped by an operator: ${outcome.reason}`] };
        const mirror = mirrored.get(artifactKind(a.kind).mirrorPath(version, a.arch));
        return { ...base, state: 'composed', commit: outcome.value.commit, signed_by: signer(true), ...(mirror ? { mirror } : {}) };
      }),
      ...imageOutcomes.flatMap(({ build, outcome }) =>
        build.members.map((a): PushCompleteMessage['artifacts'][number] => {
          const base = { kind: a.kind, artifact: artifactName(a), reasons: a.reasons.slice(0, 50) };
          if (outcome.kind === 'skipped') return { ...base, state: 'not-composed', reasons: [...base.reasons, `skipped by an operator: ${outcome.reason}`] };
          const kind = artifactKind(a.kind);
          const mirror = kind.compose.method === 'koji-image' ? mirrored.get(`${version}/${kind.compose.dir(a.arch)}`) : undefined;
          const files = artifactFiles(a, outcome.value).map((f) => ({ name: f.filename, sha256: f.sha256, size: f.size }));
          return { ...base, state: 'composed', koji_build: outcome.value.nvr, files, signed_by: signer(pushCompose !== null), ...(mirror ? { mirror } : {}) };
        }),
      ),
      ...impact.unchanged.map((u): PushCompleteMessage['artifacts'][number] => ({ kind: u.kind, state: 'unchanged', reasons: [u.reason] })),
    ].sort((x, y) => (x.artifact ?? x.kind).localeCompare(y.artifact ?? y.kind));

    enter({ stage: 'announce', artifacts }, 'telling Bodhi, then publishing releng-o-tron.push.complete');
    const bodhi = await gate.run('telling Bodhi the push is done', () => reportPushToBodhi({ release: input.release, request: input.request, state: 'success', updates: aliases }));
    const message: PushCompleteMessage = {
      ...baseMessage,
      updates: batch.updates.map((u) => ({ alias: u.alias, builds: [...u.builds] })),
      artifacts,
      compose: pushCompose ? { compose_id: pushCompose.composeId, location: pushCompose.location } : null,
      repository: mashed ? { tag: toTag, repo_id: mashed.repoId, packages: mashed.packages.length, signed_by: input.sign ? signedBy : null, mirror: mirrored.get(repoMirrorPath) ?? null } : null,
      tests,
      policy: { satisfied: policy.satisfied, passed: [...policy.passed], unsatisfied: [...policy.unsatisfied], ...(policy.skippedBy ? { skipped_by: policy.skippedBy } : {}) },
      bodhi: bodhi.kind === 'done' ? `told: ${aliases.length} updates pushed to ${input.request}` : `not told (skipped: ${bodhi.reason})`,
    };
    await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: message });
    enter({ stage: 'done' }, `${builds.length} builds to ${toTag}; ${artifacts.filter((a) => a.state === 'composed').length} artifacts composed${pushCompose ? `; compose ${pushCompose.composeId}` : ''}`);
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
        args: [{
          release: w.release, request: w.request, pushId: input.pushId, ostreeRef: input.ostreeRef, sign: input.sign, operatorReminderMs: input.operatorReminderMs,
          imageBuild: input.imageBuild, testPolicy: input.testPolicy, mashBatch: input.mashBatch,
        }],
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
