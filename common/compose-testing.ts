/**
 * What compose testing tests: the selection rules that turn a compose's images into jobs (one per
 * image and provider), and the names Autocloud gave things (family, image name) that its
 * messages and dashboard still use. Pure and bundle-safe: the planning activity applies the rules,
 * tests call them directly.
 */
import { z } from 'zod';
import { parseTunirPlan, TunirPlanError } from './tunir.js';

export const IMAGE_PROVIDERS = ['libvirt', 'vbox'] as const;
export type ImageProvider = (typeof IMAGE_PROVIDERS)[number];

/** A job's life, as Autocloud's dashboard showed it, plus `error`: the test could not run at all. */
export const JOB_STATUSES = ['queued', 'running', 'success', 'failed', 'aborted', 'error'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type FinishedJobStatus = Exclude<JobStatus, 'queued' | 'running'>;

export const COMPOSE_TEST_STATUSES = ['queued', 'running', 'complete', 'aborted', 'error'] as const;
export type ComposeTestStatus = (typeof COMPOSE_TEST_STATUSES)[number];

/** Images matching all three lists are tested on the provider. */
export const SelectionRuleSchema = z.strictObject({
  /** images.json variant UIDs (Cloud, AtomicHost; CloudImages until Fedora 27). */
  variants: z.array(z.string().min(1)).min(1),
  arches: z.array(z.string().min(1)).min(1),
  /** productmd image types (qcow2, raw-xz, vagrant-libvirt, vagrant-virtualbox). */
  types: z.array(z.string().min(1)).min(1),
  provider: z.enum(IMAGE_PROVIDERS),
});
export type SelectionRule = z.infer<typeof SelectionRuleSchema>;

/** Autocloud's choice: cloud and atomic images for the two PC arches; boxes on the host that can run them. */
export const DEFAULT_SELECTION_RULES: readonly SelectionRule[] = [
  { variants: ['Cloud', 'AtomicHost', 'CloudImages'], arches: ['x86_64', 'i386'], types: ['qcow2', 'raw-xz', 'vagrant-libvirt'], provider: 'libvirt' },
  { variants: ['Cloud', 'AtomicHost', 'CloudImages'], arches: ['x86_64', 'i386'], types: ['vagrant-virtualbox'], provider: 'vbox' },
];

/** How one image type is tested: its Tunir plan and the VM it gets. */
export const TestPlanSchema = z.strictObject({
  /** Tunir plan text (common/tunir.ts); refused at start if a host could not run it. */
  plan: z.string().min(1).superRefine((text, ctx) => {
    try {
      parseTunirPlan(text);
    } catch (err) {
      if (!(err instanceof TunirPlanError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  }),
  /** The cloud-init default user (fedora for cloud images, vagrant for boxes). */
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name').default('fedora'),
  memoryMb: z.number().int().min(128).default(2048),
});
export type TestPlan = z.infer<typeof TestPlanSchema>;

// Checks any cloud image can answer without fetching test code (Autocloud fetched tunirtests from
// infrastructure.fedoraproject.org): a hostname from the seed, a writable /tmp that a reboot
// clears, the VM coming back after `sudo reboot`.
const CLOUD_PLAN = [
  'test "$(hostname)" != localhost',
  'grep -q " / " /proc/mounts',
  'touch /tmp/relengotron-before-reboot',
  '## systemctl is-system-running',
  '@@ sudo reboot',
  'POLL',
  'test ! -e /tmp/relengotron-before-reboot',
  'uptime',
].join('\n');

export const DEFAULT_TEST_PLANS: Readonly<Record<string, z.input<typeof TestPlanSchema>>> = {
  qcow2: { plan: CLOUD_PLAN, user: 'fedora' },
  'raw-xz': { plan: CLOUD_PLAN, user: 'fedora' },
  'vagrant-libvirt': { plan: CLOUD_PLAN, user: 'vagrant' },
  'vagrant-virtualbox': { plan: CLOUD_PLAN, user: 'vagrant' },
};

/** The fields of an images.json entry that selection and naming need. */
export interface SelectableImage {
  readonly variant: string;
  readonly arch: string;
  readonly type: string;
  readonly subvariant: string | null;
  readonly path: string;
}

export interface SelectedImage<I extends SelectableImage> {
  readonly image: I;
  readonly provider: ImageProvider;
}

/** One job per image and provider whose rule matches; an image two rules name for one provider is one job. */
export function selectImages<I extends SelectableImage>(images: readonly I[], rules: readonly SelectionRule[]): SelectedImage<I>[] {
  const selected: SelectedImage<I>[] = [];
  const seen = new Set<string>();
  for (const image of images) {
    for (const rule of rules) {
      if (!rule.variants.includes(image.variant) || !rule.arches.includes(image.arch) || !rule.types.includes(image.type)) continue;
      const key = `${image.path}\0${rule.provider}`;
      if (seen.has(key)) continue;
      seen.add(key);
      selected.push({ image, provider: rule.provider });
    }
  }
  return selected;
}

/** Autocloud's family from the subvariant: Base or Atomic; other subvariants keep their name. */
export function imageFamily(subvariant: string | null): string {
  if (subvariant === 'Cloud_Base' || subvariant === null) return 'Base';
  if (subvariant === 'Atomic' || subvariant === 'AtomicHost') return 'Atomic';
  return subvariant;
}

/** Autocloud's image name: the file name up to the arch (`Fedora-Cloud-Base-28-1.1`). */
export function imageName(path: string, arch: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1);
  const at = file.indexOf(`.${arch}.`);
  return at > 0 ? file.slice(0, at) : file;
}

/** The file name, which is unique within a compose; with the provider it names a job. */
export function imageFileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The release stream two composes share when one can supersede the other: `Fedora-Rawhide`,
 * `Fedora-28`, `Fedora-Cloud-27`. Compose IDs of one stream sort by date, then type, then respin.
 */
export function composeStream(composeId: string): string | null {
  const match = /^(.+)-\d{8}(\.(n|t|ci))?\.\d+$/.exec(composeId);
  return match ? match[1]! : null;
}

/** Orders composes of one stream: negative when a is older than b. */
export function compareComposeIds(a: string, b: string): number {
  const key = (id: string): [string, number] => {
    const match = /-(\d{8})(?:\.(?:n|t|ci))?\.(\d+)$/.exec(id);
    return match ? [match[1]!, Number(match[2])] : ['', -1];
  };
  const [dateA, respinA] = key(a);
  const [dateB, respinB] = key(b);
  return dateA === dateB ? respinA - respinB : dateA < dateB ? -1 : 1;
}
