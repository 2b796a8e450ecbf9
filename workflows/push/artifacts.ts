/**
 * The child runs a push composes its artifacts in: one OSTree commit per tree
 * (`.../ostree/<tree>.<arch>`), one Koji image build per image name (`.../koji-image/<name>`).
 */
import { ApplicationFailure, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { ImageFile } from '../../activities/koji.js';
import type { AffectedArtifact } from '../../activities/pdc.js';
import { artifactKind } from '../../common/artifacts/index.js';
import { waitForKojiTask } from '../koji-steps.js';
import { composeOstree, imageBuildOutput, startImageBuild } from './activities.js';
import { fillTemplate, type ImageBuildSettings } from './input.js';

/** `cloud-qcow2/Fedora-Cloud-Base.x86_64` */
export const artifactName = (a: Pick<AffectedArtifact, 'kind' | 'name' | 'arch'>): string => `${a.kind}/${a.name}.${a.arch}`;

export interface ComposeTreeInput {
  readonly tree: Pick<AffectedArtifact, 'kind' | 'name' | 'arch' | 'builds'>;
  /** Runs from before whole trees: the builds' RPMs in the mashed repository, the tree's only content. */
  readonly rpms: readonly string[];
  /** What the tree is made of; a changed tree without one is refused (`TreeNotDefined`). */
  readonly definition?: { readonly name: string; readonly refName: string; readonly packages: readonly string[] };
  /** The tag's full repository, fetched to the releng hosts' shared work dir. */
  readonly repository?: { readonly dir: string; readonly arch: string };
  /** `updates` or `testing`: the ref's `{stream}`. */
  readonly stream?: string;
  readonly signSummary?: boolean;
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

/** One OSTree of a push, committed from the builds PDC says it includes. */
export async function composeTree(input: ComposeTreeInput): Promise<ComposedTree> {
  const { tree, definition } = input;
  const stepId = `${workflowInfo().workflowId}/compose`;
  if (input.stream === undefined) {
    // Runs from before whole trees: the push's own RPMs on one ref for both streams.
    const ref = fillTemplate(input.ostreeRef, { version: input.releaseVersion, arch: tree.arch, name: tree.name });
    setCurrentDetails(`**committing** ${ref} from ${tree.builds.length} builds (${input.rpms.length} RPMs)`);
    const commit = await composeOstree({ ref, releaseVersion: input.releaseVersion, pushId: input.pushId, builds: tree.builds, rpms: input.rpms, stepId });
    setCurrentDetails(`**done**: ${ref} → ${commit.commit}`);
    return { artifact: artifactName(tree), kind: tree.kind, arch: tree.arch, ref, commit: commit.commit, repo: commit.repo };
  }
  if (!definition) throw ApplicationFailure.nonRetryable(`${tree.name} changed, but push.ostreeTrees does not define it: what it is made of is not known, so it is not composed`, 'TreeNotDefined');
  if (!input.repository) throw ApplicationFailure.nonRetryable(`${tree.name}: the tag's repository was not written, so there is nothing to compose it from`, 'TreeRepositoryMissing');
  const ref = fillTemplate(input.ostreeRef, { version: input.releaseVersion, arch: tree.arch, name: definition.refName, stream: input.stream });
  setCurrentDetails(`**committing** ${ref}: ${definition.packages.length} packages from the ${input.repository.arch} repository`);
  const commit = await composeOstree({
    ref, releaseVersion: input.releaseVersion, pushId: input.pushId, stepId,
    tree: { name: definition.name, packages: definition.packages }, repository: input.repository, signSummary: input.signSummary ?? false,
  });
  setCurrentDetails(`**done**: ${ref} → ${commit.commit}${commit.parent ? ` (parent ${commit.parent.slice(0, 12)}, static delta)` : ''}; ${commit.packages?.length ?? 0} packages`);
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
export function artifactFiles(artifact: Pick<AffectedArtifact, 'kind' | 'arch'>, built: BuiltImage): ImageFile[] {
  const kind = artifactKind(artifact.kind);
  if (kind.compose.method !== 'koji-image') return [];
  const suffix = `.${artifact.arch}.${kind.compose.fileSuffix}`;
  return built.files.filter((f) => f.arch === artifact.arch && f.filename.endsWith(suffix));
}
