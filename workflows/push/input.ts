/** What a push is asked to do, and the settings it is done with. */
import type { TestRequirement } from '../../common/push-policy.js';

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

/** `{version}`, `{arch}` and `{name}` filled into a configured template. */
export const fillTemplate = (template: string, values: { version: string; arch?: string; name?: string }): string =>
  template.replaceAll('{version}', values.version).replaceAll('{arch}', values.arch ?? '$arch').replaceAll('{name}', values.name ?? '');
