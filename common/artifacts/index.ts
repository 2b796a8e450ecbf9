/** The artifact kinds a push knows. Adding a kind: a module beside this one and a line here. */
import { Ami } from './ami.js';
import { CloudQcow2 } from './cloud-qcow2.js';
import { CloudRaw } from './cloud-raw.js';
import { Iso } from './iso.js';
import type { ArtifactKind } from './kind.js';
import { Ostree } from './ostree.js';
import { VagrantLibvirt } from './vagrant-libvirt.js';
import { VagrantVirtualbox } from './vagrant-virtualbox.js';

export type { ArtifactKind } from './kind.js';

export const ARTIFACT_KINDS: readonly ArtifactKind[] = [Ostree, CloudQcow2, CloudRaw, VagrantLibvirt, VagrantVirtualbox, Iso, Ami];

export function artifactKind(kind: string): ArtifactKind {
  const found = ARTIFACT_KINDS.find((k) => k.kind === kind);
  if (!found) throw new Error(`unknown artifact kind ${kind}; known: ${ARTIFACT_KINDS.map((k) => k.kind).join(', ')}`);
  return found;
}
