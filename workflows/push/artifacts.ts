/**
 * The child runs a push composes its artifacts in: one OSTree commit per tree
 * (`.../ostree/<tree>.<arch>`), one Koji image build per image name (`.../koji-image/<name>`).
 */
import { setCurrentDetails, workflowInfo } from '@temporalio/workflow';
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
export function artifactFiles(artifact: Pick<AffectedArtifact, 'kind' | 'arch'>, built: BuiltImage): ImageFile[] {
  const kind = artifactKind(artifact.kind);
  if (kind.compose.method !== 'koji-image') return [];
  const suffix = `.${artifact.arch}.${kind.compose.fileSuffix}`;
  return built.files.filter((f) => f.arch === artifact.arch && f.filename.endsWith(suffix));
}
