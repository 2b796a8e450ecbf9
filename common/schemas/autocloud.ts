/**
 * Autocloud's messages, which consumers of compose test results (fedmsg_meta, the two-week
 * release script, dashboards) already read: `autocloud.image.<status>` per job and
 * `autocloud.compose.<status>` per compose, with the bodies of the reference samples
 * (../shared/docs/fedora-apis.md §1.7). releng-o-tron publishes them under its own prefix.
 */
import { z } from 'zod';

export const AUTOCLOUD_IMAGE_STATUSES = ['queued', 'running', 'success', 'failed', 'aborted'] as const;
export type AutocloudImageStatus = (typeof AUTOCLOUD_IMAGE_STATUSES)[number];

export const AutocloudImageMessageSchema = z.object({
  compose_id: z.string().min(1),
  /** The image's URL (Autocloud's name for it). */
  compose_url: z.string().regex(/^https?:\/\/\S+$/, 'expected the image URL'),
  family: z.string().min(1),
  image_name: z.string().min(1),
  job_id: z.number().int().positive(),
  release: z.string().min(1),
  status: z.enum(AUTOCLOUD_IMAGE_STATUSES),
  /** The image type: qcow2, raw-xz, vagrant-libvirt, vagrant-virtualbox. */
  type: z.string().min(1),
});
export type AutocloudImageMessage = z.infer<typeof AutocloudImageMessageSchema>;

const composeFields = {
  id: z.string().min(1),
  date: z.string().regex(/^\d{8}$/, 'expected YYYYMMDD'),
  respin: z.number().int().nonnegative(),
  type: z.string().min(1),
  release: z.string().min(1),
  compose_job_id: z.number().int().positive(),
};

export const AutocloudComposeProgressSchema = z.object({ ...composeFields, status: z.enum(['queued', 'running']) });
export type AutocloudComposeProgress = z.infer<typeof AutocloudComposeProgressSchema>;

export const AutocloudArtifactSchema = z.object({
  architecture: z.string(),
  family: z.string(),
  image_url: z.string(),
  release: z.string(),
  subvariant: z.string().nullable(),
  format: z.string(),
  type: z.string(),
  name: z.string(),
  status: z.string(),
});

export const AutocloudComposeCompleteSchema = z.object({
  ...composeFields,
  status: z.literal('completed'),
  results: z.object({
    success: z.number().int().nonnegative(),
    /** Autocloud counted aborted jobs as failed; so do we. */
    failed: z.number().int().nonnegative(),
    artifacts: z.record(z.string(), AutocloudArtifactSchema).optional(),
  }),
});
export type AutocloudComposeComplete = z.infer<typeof AutocloudComposeCompleteSchema>;

export const AUTOCLOUD_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  ...Object.fromEntries(AUTOCLOUD_IMAGE_STATUSES.map((s) => [`autocloud.image.${s}`, AutocloudImageMessageSchema])),
  'autocloud.compose.queued': AutocloudComposeProgressSchema,
  'autocloud.compose.running': AutocloudComposeProgressSchema,
  'autocloud.compose.complete': AutocloudComposeCompleteSchema,
};
