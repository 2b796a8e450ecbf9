/** Push steps 4-6: PDC's word on what changed, each changed artifact composed in a child run, the images gathered into one compose. */
import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { FetchedRepo } from '../../activities/yum-repo.js';
import type { AffectedArtifact, ImpactReport } from '../../activities/pdc.js';
import type { ImageFile } from '../../activities/koji.js';
import type { PushCompose } from '../../activities/push-compose.js';
import { artifactKind } from '../../common/artifacts/index.js';
import { workflowIds } from '../../common/workflow-ids.js';
import type { GateOutcome } from '../operator-gate.js';
import { assemblePushCompose, lookupImpact } from './activities.js';
import { PATCHES } from '../patches.js';
import { artifactFiles, artifactName, buildImage, composeTree, type BuiltImage, type ComposedTree, type ComposeTreeInput } from './artifacts.js';
import { streamOf } from './input.js';
import { writeTreeRepository } from './mash.js';
import type { PushPlan, PushRun } from './run.js';

const componentOf = (nvr: string): string => nvr.replace(/-[^-]+-[^-]+$/, '');

/** Step 4, impact: which artifacts contain the pushed builds, and why the others are unchanged. */
export async function lookUpImpact(run: PushRun, plan: PushPlan): Promise<ImpactReport> {
  run.enter({ stage: 'impact' }, 'asking PDC which artifacts contain these builds');
  const looked = await run.attempt(
    'asking PDC what changed',
    () => lookupImpact({ pdcRelease: `fedora-${plan.version}`, builds: plan.builds.map((nvr) => ({ nvr, component: componentOf(nvr) })) }),
    { as: 'the impact lookup', meaning: 'nothing recomposed' },
  );
  const impact: ImpactReport = looked ?? { affected: [], unchanged: [] };
  run.enter(
    {
      stage: 'compose',
      impact: { affected: impact.affected.map((a) => ({ artifact: artifactName(a), kind: a.kind, builds: a.builds.length, reasons: a.reasons.slice(0, 20) })), unchanged: impact.unchanged },
    },
    `${impact.affected.length} artifacts changed (${[...new Set(impact.affected.map((a) => a.kind))].join(', ') || 'none'}); unchanged kinds: ${impact.unchanged.map((u) => u.kind).join(', ') || 'none'}`,
  );
  return impact;
}

/** An image build name's artifacts: Koji builds it once for all their arches and formats. */
interface ImageBuildPlan {
  readonly name: string;
  readonly members: readonly AffectedArtifact[];
  readonly arches: readonly string[];
  readonly formats: readonly string[];
}

export interface Composed {
  readonly trees: readonly { readonly artifact: AffectedArtifact; readonly outcome: GateOutcome<ComposedTree> }[];
  readonly imageBuilds: readonly { readonly build: ImageBuildPlan; readonly outcome: GateOutcome<BuiltImage> }[];
  /** The trees committed. */
  readonly committed: readonly ComposedTree[];
  /** Every image artifact Koji built, with its files. */
  readonly images: readonly { readonly artifact: AffectedArtifact; readonly built: BuiltImage; readonly files: readonly ImageFile[] }[];
}

function imageBuildPlans(affected: readonly AffectedArtifact[]): ImageBuildPlan[] {
  const imageArtifacts = affected.filter((a) => artifactKind(a.kind).compose.method === 'koji-image');
  return [...new Set(imageArtifacts.map((a) => a.name))].map((name) => {
    const members = imageArtifacts.filter((a) => a.name === name);
    const formats = members.map((a) => artifactKind(a.kind).compose).flatMap((c) => (c.method === 'koji-image' ? [c.format] : []));
    return { name, members, arches: [...new Set(members.map((a) => a.arch))].sort(), formats: [...new Set(formats)].sort() };
  });
}

/**
 * The trees to compose: each changed tree for every arch of its definition (PDC names the tree,
 * not its arches). Runs from before whole trees composed what PDC named.
 */
function treesToCompose(run: PushRun, impact: ImpactReport, wholeTrees: boolean): AffectedArtifact[] {
  const trees = impact.affected.filter((a) => artifactKind(a.kind).compose.method === 'ostree');
  if (!wholeTrees) return trees;
  const byName = new Map(trees.map((a) => [a.name, a]));
  return [...byName.values()].flatMap((a) => (run.input.ostreeTrees?.[a.name]?.arches ?? run.input.arches ?? [a.arch]).map((arch) => ({ ...a, arch })));
}

/** Step 5, compose: every changed OSTree and image build in its own child run, all at once. */
export async function composeArtifacts(run: PushRun, plan: PushPlan, impact: ImpactReport, mashed: FetchedRepo | null): Promise<Composed> {
  const { input } = run;
  // From the input, not workflowInfo(): the same child IDs however the run is replayed.
  const pushWorkflowId = workflowIds.push(input.release, input.request, input.pushId);
  const wholeTrees = patched(PATCHES.fedoraPublication);
  const trees = treesToCompose(run, impact, wholeTrees);
  // Whole trees come from the tag's full repository; runs from before unpacked the push's own RPMs.
  const treeRepository = wholeTrees && trees.length > 0 ? await writeTreeRepository(run, plan) : null;
  const rpmsOf = (nvrs: readonly string[]) => (mashed?.packages ? mashed.packages.filter((p) => nvrs.includes(p.nvr)).map((p) => `${mashed.dir}/noarch/${p.location}`) : []);
  const treeContent = (a: AffectedArtifact): Pick<ComposeTreeInput, 'rpms' | 'definition' | 'repository' | 'stream' | 'signSummary'> => {
    if (!wholeTrees) return { rpms: rpmsOf(a.builds) };
    const definition = input.ostreeTrees?.[a.name];
    return {
      rpms: [],
      ...(definition ? { definition: { name: a.name, refName: definition.refName, packages: definition.packages } } : {}),
      ...(treeRepository ? { repository: { dir: treeRepository.dir, arch: a.arch } } : {}),
      stream: streamOf(input.request),
      signSummary: input.sign,
    };
  };
  const inChild = <T>(step: string, work: () => Promise<T>) =>
    run.gate.run(step, work).then((outcome) => {
      if (outcome.kind === 'skipped') run.skip(step, outcome.reason);
      return outcome;
    });
  const [treeOutcomes, imageOutcomes] = await Promise.all([
    Promise.all(
      trees.map(async (a) => {
        const name = artifactName(a);
        const outcome = await inChild(`composing ${name}`, () =>
          executeChild(composeTree, {
            workflowId: workflowIds.pushArtifact(pushWorkflowId, name),
            args: [{ tree: { kind: a.kind, name: a.name, arch: a.arch, builds: a.builds }, ...treeContent(a), pushId: input.pushId, releaseVersion: plan.version, ostreeRef: input.ostreeRef }],
            staticSummary: `${name} for push ${input.pushId} of ${input.release} ${input.request}`,
            staticDetails: `Why: ${a.reasons.slice(0, 10).join('; ')}${a.reasons.length > 10 ? `; and ${a.reasons.length - 10} more` : ''}`,
          }),
        );
        return { artifact: a, outcome };
      }),
    ),
    Promise.all(
      imageBuildPlans(impact.affected).map(async (b) => {
        const outcome = await inChild(`building image ${b.name}`, () =>
          executeChild(buildImage, {
            workflowId: workflowIds.pushArtifact(pushWorkflowId, `koji-image/${b.name}`),
            args: [{ name: b.name, arches: b.arches, formats: b.formats, pushId: input.pushId, releaseVersion: plan.version, imageBuild: input.imageBuild }],
            staticSummary: `Koji image build ${b.name} (${b.formats.join(', ')}; ${b.arches.join(', ')}) for push ${input.pushId}`,
            staticDetails: `For ${b.members.map(artifactName).join(', ')}`,
          }),
        );
        return { build: b, outcome };
      }),
    ),
  ]);
  return {
    trees: treeOutcomes,
    imageBuilds: imageOutcomes,
    committed: treeOutcomes.flatMap((t) => (t.outcome.kind === 'done' ? [t.outcome.value] : [])),
    images: imageOutcomes.flatMap(({ build, outcome }) =>
      outcome.kind === 'done' ? build.members.map((a) => ({ artifact: a, built: outcome.value, files: artifactFiles(a, outcome.value) })) : [],
    ),
  };
}

/** Step 6, gather: Koji's images as one compose, what the tests fetch and what the mirror receives. */
export async function gatherImages(run: PushRun, plan: PushPlan, composed: Composed): Promise<PushCompose | null> {
  if (composed.images.length === 0) return null;
  const { input } = run;
  return run.attempt(
    'gathering the images into the push compose',
    () =>
      assemblePushCompose({
        pushWorkflowId: run.workflowId,
        release: { name: 'Fedora', short: 'Fedora', version: plan.version },
        releaseType: input.request === 'stable' ? 'updates' : 'updates-testing',
        date: /^\d{8}/.exec(input.pushId)?.[0] ?? workflowInfo().startTime.toISOString().slice(0, 10).replaceAll('-', ''),
        images: composed.images.flatMap(({ artifact: a, files }) => {
          const kind = artifactKind(a.kind);
          if (kind.compose.method !== 'koji-image') return [];
          const { productmd } = kind.compose;
          const dir = kind.compose.dir(a.arch);
          return files.map((file) => ({ dir, type: productmd.type, format: productmd.format, subvariant: a.name.replace(/^Fedora-/, '').replaceAll('-', '_'), file }));
        }),
      }),
    { as: 'the push compose', meaning: 'images not tested, signed or synced' },
  );
}
