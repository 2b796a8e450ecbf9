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

/**
 * A moment as push and prune IDs carry it: `20190627T000005Z` (UTC, to the second). A push from
 * Bodhi's message is named by when Bodhi started it, so a replayed message names the same push.
 */
export function compactTimestamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** A ref keeps its segments: `fedora/29/x86_64/iot`. */
const refPath = (ref: string): string => ref.split('/').map(part).join('/');

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
  /**
   * OSTree maintenance: one run per ref (and commit) at a time; a dry run has its own name, so it
   * neither joins nor blocks the real one. `ostree/promote/fedora/29/x86_64/iot@<commit>`,
   * `ostree/alias/fedora/29/x86_64/iot`, `ostree/archive/fedora/29`, `ostree/prune/20261206T030000Z`.
   */
  ostreePromote: (ref: string, commit: string, dryRun: boolean): string => `ostree/${dryRun ? 'promote-dry-run' : 'promote'}/${refPath(ref)}@${part(commit)}`,
  ostreeAlias: (alias: string, dryRun: boolean): string => `ostree/${dryRun ? 'alias-dry-run' : 'alias'}/${refPath(alias)}`,
  ostreeArchive: (prefix: string, dryRun: boolean): string => `ostree/${dryRun ? 'archive-dry-run' : 'archive'}/${refPath(prefix.replace(/\/+$/, ''))}`,
  ostreePrune: (startedAt: string, dryRun: boolean): string => `ostree/${dryRun ? 'prune-dry-run' : 'prune'}/${part(startedAt)}`,
  /** A stream's two-week releases; the Schedule's runs get the scheduled time appended (`two-week/Fedora-Cloud-45-2026-12-08T12:00:00Z`). */
  twoWeek: (stream: string): string => `two-week/${part(stream)}`,
  /** The prune Schedule's runs: the server appends the scheduled time (`ostree/prune/scheduled-2026-12-06T03:00:00Z`). */
  ostreeScheduledPrune: 'ostree/prune/scheduled',
} as const;

/** Schedules by what they start; created or updated from config when the service starts (client/schedules.ts). */
export const scheduleIds = {
  /** The weekly prune of the OSTree repository by per-ref policy (ostree.prune). */
  ostreePrune: 'ostree-prune',
  /** A stream's two-week release (twoWeek.streams). */
  twoWeek: (stream: string): string => `two-week/${stream}`,
} as const;
