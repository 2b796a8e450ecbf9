/** Push steps 7-10: the images tested against the test policy, everything signed, synced to the master mirror, and announced. */
import { ApplicationFailure, executeChild, patched } from '@temporalio/workflow';
import type { PushCompose } from '../../activities/push-compose.js';
import type { FetchedRepo } from '../../activities/yum-repo.js';
import { artifactKind } from '../../common/artifacts/index.js';
import { decidePushTests, testsRequired, type PolicyDecision } from '../../common/push-policy.js';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes.js';
import { PROJECT_TOPIC, type PushCompleteMessage } from '../../common/schemas/outgoing.js';
import { workflowIds } from '../../common/workflow-ids.js';
import type { ImpactReport } from '../../activities/pdc.js';
import { composeTest } from '../compose-test.js';
import { publish } from '../messages.js';
import { reportPushToBodhi, signChecksumFile, signOstreeCommit, signRepoMetadata, syncToMirror } from './activities.js';
import { artifactFiles, artifactName } from './artifacts.js';
import type { Composed } from './compose.js';
import type { PushPlan, PushRun } from './run.js';
import { updatesDir } from './input.js';
import { PATCHES } from '../patches.js';

export interface Tested {
  readonly tests: PushCompleteMessage['tests'];
  readonly policy: PolicyDecision & { readonly skippedBy?: string };
}

/** Step 7, test: Greenwave's role. The push goes on only when every test `push.testPolicy` requires passed (or an operator skips the policy). */
export async function testImages(run: PushRun, composed: Composed, compose: PushCompose | null): Promise<Tested> {
  const { input } = run;
  const testedArtifacts = compose ? composed.images.flatMap(({ artifact: a, files }) => files.map((f) => ({ artifact: artifactName(a), kind: a.kind, fileName: f.filename }))) : [];
  const kinds = composed.images.map((i) => i.artifact.kind);
  let tested: Tested = { tests: [], policy: { satisfied: true, passed: [], unsatisfied: [] } };
  if (compose && testsRequired(input.testPolicy, kinds)) {
    run.enter({ stage: 'test', compose: { composeId: compose.composeId, location: compose.location } }, `testing ${compose.composeId}: ${testedArtifacts.length} images`);
    let tests: PushCompleteMessage['tests'] = [];
    const decided = await run.gate.run(`testing the images of ${compose.composeId}`, async () => {
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
      run.update({ policy: decision });
      if (!decision.satisfied) throw ApplicationFailure.nonRetryable(`push.testPolicy is not satisfied: ${decision.unsatisfied.join('; ')}`, 'TestPolicyUnsatisfied');
      return decision;
    });
    if (decided.kind === 'done') tested = { tests, policy: decided.value };
    else {
      tested = { tests, policy: { ...(run.status.policy ?? { satisfied: false, passed: [], unsatisfied: [] }), skippedBy: decided.reason } };
      run.skip('the test policy', decided.reason);
    }
  } else if (compose) {
    tested = { tests: [], policy: { satisfied: true, passed: [`no test required by push.testPolicy for ${[...new Set(kinds)].join(', ')}`], unsatisfied: [] } };
  }
  run.update({ policy: tested.policy });
  return tested;
}

/** Step 8, sign: the repository metadata, each CHECKSUM file and each OSTree commit; the key that signed, or null. */
export async function sign(run: PushRun, plan: PushPlan, mashed: FetchedRepo | null, composed: Composed, compose: PushCompose | null): Promise<string | null> {
  if (!run.input.sign) return null;
  run.enter({ stage: 'sign' }, `signing the repository metadata, ${compose?.imageDirs.length ?? 0} CHECKSUM files and ${composed.committed.length} OSTree commits`);
  let signedBy: string | null = null;
  for (const arch of mashed ? repositoryArches(mashed) : []) {
    const signed = await run.attempt(`signing the ${plan.toTag} ${arch} repository metadata`, () => signRepoMetadata({ file: `${mashed!.dir}/${arch}/repodata/repomd.xml` }));
    if (signed) signedBy = signed.keyId;
  }
  for (const dir of compose?.imageDirs ?? []) {
    const signed = await run.attempt(`signing ${dir}/CHECKSUM`, () => signChecksumFile({ file: `${compose!.composeDir}/${dir}/CHECKSUM` }));
    if (signed) signedBy = signed.keyId;
  }
  for (const c of composed.committed) {
    const signed = await run.attempt(`signing ${c.ref} ${c.commit}`, () => signOstreeCommit({ repo: c.repo, commit: c.commit }), { as: `signing ${c.commit}` });
    if (signed) signedBy = signed.keyId;
  }
  return signedBy;
}

/** The arches of a fetched repository; runs from before every arch fetched one noarch repository. */
const repositoryArches = (mashed: FetchedRepo): string[] => mashed.archRepos?.map((a) => a.arch) ?? ['noarch'];

/** The updates repository where Fedora's mirrors have it: updates/<version>/Everything/ or updates/testing/<version>/Everything/. */
export const repoMirrorPath = (run: PushRun, plan: PushPlan): string => `${updatesDir(run.input.request, plan.version)}/Everything`;

/**
 * Where a push's artifacts go on the mirror: images under the stream's own release directory
 * (`updates/<version>/` or `updates/testing/<version>/`), so a testing push never moves a stable
 * `latest`; OSTrees in the release's one repository, their streams apart by ref. Runs from before
 * put both streams' images under `<version>/`.
 */
export function mirrorPlaces(plan: PushPlan, run: PushRun): { readonly version: string; readonly releaseDir: string } {
  return { version: plan.version, releaseDir: patched(PATCHES.fedoraPublication) ? updatesDir(run.input.request, plan.version) : plan.version };
}

/** Step 9, sync: rsync to the master mirror in Fedora's layout, `latest` swapped; mirror path → synced tree. */
export async function syncToMasterMirror(run: PushRun, plan: PushPlan, mashed: FetchedRepo | null, composed: Composed, compose: PushCompose | null): Promise<Map<string, string>> {
  run.enter({ stage: 'sync' }, 'rsync to the master mirror');
  const mirrored = new Map<string, string>();
  // `exposeTopLevel`: each arch directory of the repository also at Fedora's path (`Everything/x86_64`), through `latest`.
  const sync = async (source: string, path: string, exposeTopLevel = false) => {
    // Logged before the sync: a tree half-written when the push fails is removed by compensation.
    run.changes.mirrorTrees.push({ path, name: run.input.pushId });
    const synced = await run.attempt(`syncing ${path}`, () => syncToMirror({ source, path, name: run.input.pushId, ...(exposeTopLevel ? { exposeTopLevel } : {}) }));
    if (synced) mirrored.set(path, synced.dest);
  };
  const places = mirrorPlaces(plan, run);
  if (mashed) await sync(mashed.dir, repoMirrorPath(run, plan), mashed.archRepos !== undefined);
  for (const dir of compose?.imageDirs ?? []) await sync(`${compose!.composeDir}/${dir}`, `${places.releaseDir}/${dir}`);
  // One repository holds every tree: synced once, after the last commit (runs from before synced it per tree).
  const trees = patched(PATCHES.fedoraPublication) ? composed.committed.filter((c, i) => composed.committed.findIndex((o) => o.repo === c.repo) === i) : composed.committed;
  for (const c of trees) await sync(c.repo, artifactKind(c.kind).mirrorPath(places, c.arch));
  return mirrored;
}

type ArtifactEntry = PushCompleteMessage['artifacts'][number];

/** What became of every artifact kind: composed (where it went), not composed (why), or unchanged. */
export function artifactReport(run: PushRun, plan: PushPlan, impact: ImpactReport, composed: Composed, compose: PushCompose | null, signedBy: string | null, mirrored: ReadonlyMap<string, string>): ArtifactEntry[] {
  const places = mirrorPlaces(plan, run);
  const signer = (signedSomething: boolean) => (run.input.sign && signedSomething ? signedBy : null);
  return [
    ...composed.trees.map(({ artifact: a, outcome }): ArtifactEntry => {
      const base = { kind: a.kind, artifact: artifactName(a), reasons: a.reasons.slice(0, 50) };
      if (outcome.kind === 'skipped') return { ...base, state: 'not-composed', reasons: [...base.reasons, `skipped by an operator: ${outcome.reason}`] };
      const mirror = mirrored.get(artifactKind(a.kind).mirrorPath(places, a.arch));
      return { ...base, state: 'composed', commit: outcome.value.commit, signed_by: signer(true), ...(mirror ? { mirror } : {}) };
    }),
    ...composed.imageBuilds.flatMap(({ build, outcome }) =>
      build.members.map((a): ArtifactEntry => {
        const base = { kind: a.kind, artifact: artifactName(a), reasons: a.reasons.slice(0, 50) };
        if (outcome.kind === 'skipped') return { ...base, state: 'not-composed', reasons: [...base.reasons, `skipped by an operator: ${outcome.reason}`] };
        const kind = artifactKind(a.kind);
        const mirror = kind.compose.method === 'koji-image' ? mirrored.get(`${places.releaseDir}/${kind.compose.dir(a.arch)}`) : undefined;
        const files = artifactFiles(a, outcome.value).map((f) => ({ name: f.filename, sha256: f.sha256, size: f.size }));
        return { ...base, state: 'composed', koji_build: outcome.value.nvr, files, signed_by: signer(compose !== null), ...(mirror ? { mirror } : {}) };
      }),
    ),
    ...impact.unchanged.map((u): ArtifactEntry => ({ kind: u.kind, state: 'unchanged', reasons: [u.reason] })),
  ].sort((x, y) => (x.artifact ?? x.kind).localeCompare(y.artifact ?? y.kind));
}

export interface Outcome {
  readonly mashed: FetchedRepo | null;
  readonly impact: ImpactReport;
  readonly composed: Composed;
  readonly compose: PushCompose | null;
  readonly tested: Tested;
  readonly signedBy: string | null;
  readonly mirrored: ReadonlyMap<string, string>;
}

/** Step 10, announce: Bodhi told the push is done, then `releng-o-tron.push.complete` with everything it did. */
export async function announce(run: PushRun, plan: PushPlan, outcome: Outcome): Promise<PushCompleteMessage> {
  const { input } = run;
  const { mashed, compose, tested, signedBy, mirrored } = outcome;
  const artifacts = artifactReport(run, plan, outcome.impact, outcome.composed, compose, signedBy, mirrored);
  run.enter({ stage: 'announce', artifacts }, 'telling Bodhi, then publishing releng-o-tron.push.complete');
  const bodhi = await run.gate.run('telling Bodhi the push is done', () => reportPushToBodhi({ release: input.release, request: input.request, state: 'success', updates: plan.aliases }));
  const { policy } = tested;
  const message: PushCompleteMessage = {
    ...run.baseMessage,
    updates: plan.batch.updates.map((u) => ({ alias: u.alias, builds: [...u.builds] })),
    artifacts,
    compose: compose ? { compose_id: compose.composeId, location: compose.location } : null,
    repository: mashed
      ? { tag: plan.toTag, repo_id: mashed.repoId, packages: mashed.builds ?? mashed.packages?.length ?? 0, signed_by: input.sign ? signedBy : null, mirror: mirrored.get(repoMirrorPath(run, plan)) ?? null }
      : null,
    tests: tested.tests,
    policy: { satisfied: policy.satisfied, passed: [...policy.passed], unsatisfied: [...policy.unsatisfied], ...(policy.skippedBy ? { skipped_by: policy.skippedBy } : {}) },
    bodhi: bodhi.kind === 'done' ? `told: ${plan.aliases.length} updates pushed to ${input.request}` : `not told (skipped: ${bodhi.reason})`,
  };
  await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: message });
  run.enter({ stage: 'done' }, `${plan.builds.length} builds to ${plan.toTag}; ${artifacts.filter((a) => a.state === 'composed').length} artifacts composed${compose ? `; compose ${compose.composeId}` : ''}`);
  return message;
}

/** A push with nothing to do, said plainly. */
export async function announceEmpty(run: PushRun, plan: PushPlan): Promise<PushCompleteMessage> {
  const empty: PushCompleteMessage = { ...run.baseMessage, updates: [], artifacts: [], tests: [] };
  await publish({ topic: `${PROJECT_TOPIC}.push.complete`, body: empty });
  run.enter({ stage: 'done' }, `${run.input.release} has no updates requested for ${run.input.request}${plan.batch.skipped.length ? ` (${plan.batch.skipped.length} left out)` : ''}`);
  return empty;
}
