/** What a push is asked to do, and the settings it is done with. */
import type { TestRequirement } from '../../common/push-policy.js';

/** How Koji builds images for a push; `{version}` is the release's version. */
export interface ImageBuildSettings {
  readonly target: string;
  readonly installTree: string;
  readonly ksurl: string;
  readonly distro: string;
}

/** A tree's definition (a treefile's essentials): its ref's name, its arches and its packages. */
export interface OstreeTreeSettings {
  /** `{name}` in the ref: `iot` for PDC's `fedora-iot`. */
  readonly refName: string;
  /** Default: the push's arches. */
  readonly arches?: readonly string[];
  /** Binary package names; each commit gets the latest build of every one from the tag's full repository. */
  readonly packages: readonly string[];
}

export interface PushInput {
  /** Bodhi's release name, e.g. F29. */
  readonly release: string;
  readonly request: 'testing' | 'stable';
  /** Names this push among the release's pushes: `20261123T120000Z`. */
  readonly pushId: string;
  /** The OSTree ref; `{version}`, `{arch}`, `{stream}` (`updates` or `testing`) and `{name}` (the tree) are filled in. */
  readonly ostreeRef: string;
  /** What each OSTree is made of, by PDC's tree name. Absent in runs started before whole trees. */
  readonly ostreeTrees?: Readonly<Record<string, OstreeTreeSettings>>;
  /** The arches of the repositories and trees. Absent in runs started before every arch was published. */
  readonly arches?: readonly string[];
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
export type PushSettings = Pick<PushInput, 'ostreeRef' | 'ostreeTrees' | 'arches' | 'sign' | 'operatorReminderMs' | 'imageBuild' | 'testPolicy' | 'mashBatch'>;

/** `{version}`, `{arch}`, `{stream}` and `{name}` filled into a configured template. */
export const fillTemplate = (template: string, values: { version: string; arch?: string; name?: string; stream?: string }): string =>
  template.replaceAll('{version}', values.version).replaceAll('{arch}', values.arch ?? '$arch').replaceAll('{stream}', values.stream ?? '').replaceAll('{name}', values.name ?? '');

/** Where a push publishes: testing and stable never share a ref or a directory. */
export const streamOf = (request: PushInput['request']): 'updates' | 'testing' => (request === 'stable' ? 'updates' : 'testing');

/** The release's directory on the mirror: `updates/<version>` or `updates/testing/<version>`, as Fedora's. */
export const updatesDir = (request: PushInput['request'], version: string): string => `updates/${request === 'testing' ? 'testing/' : ''}${version}`;
