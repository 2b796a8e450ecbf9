/**
 * Workflow IDs are built from the domain so that the same compose, push or build can never
 * have two runs at once, and an operator can read what a run is about from its ID alone.
 * Used by the bus listener, the CLI and workflows (for children); bundle-safe.
 */
const UNSAFE = /[^A-Za-z0-9._:+~@-]/g;

function part(value: string): string {
  const cleaned = value.trim().replace(UNSAFE, '_');
  if (!cleaned) throw new TypeError('a workflow ID part must not be empty');
  return cleaned;
}

export const workflowIds = {
  composeDiscovery: (composeId: string): string => `compose-discovery/${part(composeId)}`,
  /** `compose-test/Fedora-Rawhide-20261123.n.0` */
  composeTest: (composeId: string): string => `compose-test/${part(composeId)}`,
  /** One job: `image-test/Fedora-Rawhide-20261123.n.0/Fedora-Cloud-Base-Rawhide-20261123.n.0.x86_64.qcow2@libvirt` */
  imageTest: (composeId: string, fileName: string, provider: string): string => `image-test/${part(composeId)}/${part(fileName)}@${part(provider)}`,
  /** One Bodhi push (a `bodhi.composer.start`), parent of its releases' pushes: `bodhi-push/20190627T000005Z`. */
  bodhiPush: (pushId: string): string => `bodhi-push/${part(pushId)}`,
  /** Branching a release from rawhide: `release-branch/F45`. */
  releaseBranch: (release: string): string => `release-branch/${part(release)}`,
  /** A release's end of life: `release-eol/F43`. */
  releaseEol: (release: string): string => `release-eol/${part(release)}`,
  /** One push of a release's updates: `push/F29-stable/20261123T120000Z`. */
  push: (release: string, request: string, pushId: string): string => `push/${part(release)}-${part(request)}/${part(pushId)}`,
  /** One artifact of a push: `push/F29-stable/20261123T120000Z/cloud-qcow2/Fedora-Cloud-Base.x86_64`. */
  pushArtifact: (pushWorkflowId: string, artifact: string): string => `${pushWorkflowId}/${artifact.split('/').map(part).join('/')}`,
  /** One gate per build and gate tag: `gate/f44-updates-testing-pending/bash-5.3.0-2.fc44`. */
  gateBuild: (gateTag: string, nvr: string): string => `gate/${part(gateTag)}/${part(nvr)}`,
} as const;
