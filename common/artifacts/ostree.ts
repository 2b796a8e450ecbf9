import type { ArtifactKind } from './kind.js';

/** OSTree commits: composed with `ostree` from the mashed content, signed in the repository. */
export const Ostree: ArtifactKind = {
  kind: 'ostree',
  description: 'OSTree commits (IoT, Silverblue, CoreOS-style trees)',
  // PDC has no OSTree records; a release-component relationship names what a tree includes.
  impact: { by: 'relationship', type: 'OSTreeIncludesRPM' },
  compose: { method: 'ostree' },
  testImageType: null,
  sign: 'ostree-commit',
  // One repository per release, as Fedora's: testing and stable trees are apart by ref, not by directory.
  mirrorPath: (where) => `ostree/${where.version}`,
};
