/**
 * Whether a push may go on to signing and publishing, decided from its image tests as Greenwave
 * decides gating: each requirement names an artifact kind and a provider, and every new artifact
 * of that kind needs a passing test on that provider. A missing result does not satisfy it.
 * Pure, so workflows decide with it and config checks it.
 */
import type { ImageProvider } from './compose-testing.js';

export interface TestRequirement {
  readonly kind: string;
  readonly provider: ImageProvider;
}

/**
 * The cloud images must boot and pass on libvirt. Vagrant VirtualBox boxes are tested where a
 * VirtualBox host runs, but do not hold a push back unless a deployment requires them.
 */
export const DEFAULT_PUSH_TEST_REQUIREMENTS: readonly TestRequirement[] = [
  { kind: 'cloud-qcow2', provider: 'libvirt' },
  { kind: 'cloud-raw', provider: 'libvirt' },
  { kind: 'vagrant-libvirt', provider: 'libvirt' },
];

/** A test job's outcome for one image file on one provider. */
export interface ImageTestOutcome {
  readonly fileName: string;
  readonly provider: string;
  readonly status: string;
  readonly reason: string | null;
}

/** A composed artifact's image file. */
export interface TestedArtifact {
  readonly artifact: string;
  readonly kind: string;
  readonly fileName: string;
}

export interface PolicyDecision {
  readonly satisfied: boolean;
  /** Requirements met, one line each. */
  readonly passed: readonly string[];
  /** Requirements not met, with why. */
  readonly unsatisfied: readonly string[];
}

export function decidePushTests(required: readonly TestRequirement[], artifacts: readonly TestedArtifact[], outcomes: readonly ImageTestOutcome[]): PolicyDecision {
  const passed: string[] = [];
  const unsatisfied: string[] = [];
  for (const artifact of artifacts) {
    for (const requirement of required.filter((r) => r.kind === artifact.kind)) {
      const runs = outcomes.filter((o) => o.fileName === artifact.fileName && o.provider === requirement.provider);
      const success = runs.find((o) => o.status === 'success');
      if (success) passed.push(`${artifact.artifact}: passed on ${requirement.provider}`);
      else if (runs.length === 0) unsatisfied.push(`${artifact.artifact}: no ${requirement.provider} test result for ${artifact.fileName}`);
      else unsatisfied.push(`${artifact.artifact}: ${requirement.provider} test ${runs.map((r) => `${r.status}${r.reason ? ` (${r.reason})` : ''}`).join(', ')}`);
    }
  }
  return { satisfied: unsatisfied.length === 0, passed, unsatisfied };
}

/** Whether any of these artifacts needs a test at all. */
export function testsRequired(required: readonly TestRequirement[], kinds: readonly string[]): boolean {
  return required.some((r) => kinds.includes(r.kind));
}
