/**
 * Every `patched()` marker the workflows use, with why. The policy (README, "Changing a workflow"):
 * a change that alters a running workflow's commands is guarded by `patched(id)` so that runs
 * started before it replay the old branch; once no run older than the change can be open (the
 * namespace's retention has passed since it shipped) the old branch goes and the call becomes
 * `deprecatePatch(id)`; a release later the marker goes too. IDs are never reused.
 */
export const PATCHES = {
  /**
   * 2026-12: an image test's workflow runs on the `releng` queue and only its activity on the
   * provider's, so a compose whose provider has no host at all ends at `waitForHost` (and says
   * what it waits for) instead of waiting forever for a workflow task no host polls.
   */
  imageTestOnRelengQueue: 'image-test-on-releng-queue',
  // 'reminders-do-not-hold-decisions' was withdrawn before any release (a run completing with a
  // reminder in flight had its workflow task refused, and the operator's decision with it); never reuse it.
  /** 2026-12: branching makes the release's OSTree refs at rawhide's last commits (a step before Bodhi's). */
  branchOstreeRefs: 'branch-ostree-refs',
  /** 2026-12: branching and end of life write the configuration that follows the release (gating lanes, compose streams). */
  releaseConfigStep: 'release-config-step',
  /**
   * 2026-12: publication as Fedora's mirrors have it: the tag's repository for every arch
   * (`updates/[testing/]<version>/Everything/<arch>/`, repomd.xml signed per arch), each OSTree the
   * whole tree of its definition resolved against the tag's full repository (a second, inherited
   * dist repo), testing and stable on their own refs and image paths.
   */
  fedoraPublication: 'fedora-publication',
} as const;
