/**
 * End of life of a release (Fedora's EOL SOP), planned from what Koji, Bodhi, PDC, the mirror and
 * the OSTree repository hold now. Pure, like the branch plan: the activity reads, this decides.
 *
 * Steps, in order, the reversible first: the release's build targets removed, its tags locked,
 * Bodhi's release archived, PDC's marked inactive; then the mirror trees moved to the archive
 * (the old tree kept until the archive verifies) and each OSTree ref pruned to its last commit.
 */
import { releaseVersion, type ReleaseConfigChange } from './release-branch.js';

export interface EolState {
  readonly release: string;
  readonly bodhi: Readonly<Record<string, unknown>> | null;
  /** Build targets whose build or destination tag is one of the release's. */
  readonly targets: readonly { readonly name: string; readonly build_tag: string; readonly dest_tag: string }[];
  /** The release's tags that exist, and whether each is locked. */
  readonly tags: readonly { readonly name: string; readonly locked: boolean }[];
  readonly pdc: { readonly releaseId: string; readonly active: boolean } | null;
  /** Mirror trees of the release (paths under the mirror root) that exist. */
  readonly mirrorTrees: readonly string[];
  /** OSTree refs of the release, with their commit depth beyond the last. */
  readonly ostreeRefs: readonly { readonly ref: string; readonly olderCommits: number }[];
}

export interface EolPlan {
  readonly release: string;
  readonly version: number;
  readonly deleteTargets: EolState['targets'];
  readonly lockTags: readonly string[];
  readonly bodhi: { readonly stateBefore: string };
  readonly pdc: { readonly releaseId: string } | null;
  /** Mirror path → archive path (both relative to their roots). */
  readonly archive: readonly { readonly from: string; readonly to: string }[];
  readonly ostreeRefs: readonly string[];
  /** Its gating lanes and compose stream stopped, and the rows that replaces, for undo. */
  readonly config?: ReleaseConfigChange;
}

export class EolRefused extends Error {
  override name = 'EolRefused';
}

/** Every tag a release can have, rawhide's and the updates tags. */
export function releaseTags(version: number): string[] {
  return ['', '-build', '-override', '-updates', '-updates-candidate', '-updates-testing', '-updates-testing-pending', '-updates-pending', '-signing-pending'].map((s) => `f${version}${s}`);
}

/** Where a release's trees are on Fedora's master mirror, and where its archive keeps them. */
export function mirrorTreesOf(version: number): { readonly from: string; readonly to: string }[] {
  return [
    { from: `updates/testing/${version}`, to: `updates/testing/${version}` },
    { from: `updates/${version}`, to: `updates/${version}` },
    { from: `${version}`, to: `releases/${version}` },
  ];
}

/** The OSTree ref prefix of a release's trees (`fedora/45/`). */
export const ostreeRefPrefix = (version: number): string => `fedora/${version}/`;

export function planEol(state: EolState): EolPlan {
  const version = releaseVersionForEol(state.release);
  const bodhi = state.bodhi;
  if (!bodhi) throw new EolRefused(`Bodhi knows no release ${state.release}`);
  if (bodhi['branch'] === 'rawhide') throw new EolRefused(`${state.release} is rawhide: branch it before it can reach end of life`);
  if (bodhi['state'] === 'archived' && state.targets.length === 0 && state.tags.every((t) => t.locked)) {
    throw new EolRefused(`${state.release} is already at end of life: archived in Bodhi, no build targets, every tag locked`);
  }
  const trees = new Set(state.mirrorTrees);
  return {
    release: state.release,
    version,
    deleteTargets: state.targets,
    lockTags: state.tags.filter((t) => !t.locked).map((t) => t.name),
    bodhi: { stateBefore: typeof bodhi['state'] === 'string' ? bodhi['state'] : 'current' },
    pdc: state.pdc?.active ? { releaseId: state.pdc.releaseId } : null,
    archive: mirrorTreesOf(version).filter((t) => trees.has(t.from)),
    ostreeRefs: state.ostreeRefs.map((r) => r.ref),
  };
}

function releaseVersionForEol(name: string): number {
  try {
    return releaseVersion(name);
  } catch (err) {
    throw new EolRefused((err as Error).message);
  }
}

export function describeEolPlan(plan: EolPlan): string {
  return [
    `End of life of ${plan.release}.`,
    'Koji:',
    ...(plan.deleteTargets.length ? plan.deleteTargets.map((t) => `  delete target ${t.name} (${t.build_tag} -> ${t.dest_tag})`) : ['  no build targets left']),
    ...(plan.lockTags.length ? plan.lockTags.map((t) => `  lock tag ${t}`) : ['  every tag locked already']),
    'Bodhi:',
    `  release ${plan.release}: state ${plan.bodhi.stateBefore} -> archived (its open updates become obsolete)`,
    'PDC:',
    plan.pdc ? `  release ${plan.pdc.releaseId}: active true -> false` : '  nothing (no active PDC release)',
    'Mirror:',
    ...(plan.archive.length ? plan.archive.map((a) => `  move ${a.from} -> archive ${a.to} (rsync --delay-updates; the old tree stays until the archive verifies)`) : ['  nothing to archive']),
    'OSTree:',
    ...(plan.ostreeRefs.length ? plan.ostreeRefs.map((r) => `  prune ${r} to its last commit`) : ['  no refs']),
    'Configuration:',
    ...(plan.config?.entries.length ? plan.config.entries.map((e) => `  ${e.kind} ${e.name}: stopped`) : ['  nothing']),
    'Bus:',
    '  releng-o-tron.release.eol',
  ].join('\n');
}
