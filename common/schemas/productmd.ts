/**
 * productmd compose metadata: composeinfo.json and images.json, formats 1.0 to 1.2
 * (docs: ../shared/docs/fedora-apis.md §3). 1.0 has no header.type and no image subvariant.
 */
import { z } from 'zod';

const header = (type: string) =>
  z.object({
    type: z.literal(type).optional(),
    version: z.string().regex(/^1\.\d+$/, 'expected a productmd 1.x format version'),
  });

const composeHeader = z.looseObject({
  id: z.string().min(1),
  date: z.string().regex(/^\d{8}$/, 'expected YYYYMMDD'),
  respin: z.number().int().nonnegative(),
  type: z.enum(['test', 'ci', 'nightly', 'production']),
  label: z.string().nullable().optional(),
  final: z.boolean().optional(),
});

export const ProductmdImageSchema = z.looseObject({
  arch: z.string().min(1),
  bootable: z.boolean(),
  checksums: z.record(z.string(), z.string().regex(/^[0-9a-f]+$/)),
  disc_count: z.number().int(),
  disc_number: z.number().int(),
  format: z.string().min(1),
  implant_md5: z.string().nullable(),
  mtime: z.number().int(),
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  subvariant: z.string().optional(),
  type: z.string().min(1),
  volume_id: z.string().nullable(),
});
export type ProductmdImage = z.infer<typeof ProductmdImageSchema>;

export const ImagesJsonSchema = z.object({
  header: header('productmd.images'),
  payload: z.object({
    compose: composeHeader,
    images: z.record(z.string(), z.record(z.string(), z.array(ProductmdImageSchema))),
  }),
});
export type ImagesJson = z.infer<typeof ImagesJsonSchema>;

export const ComposeInfoSchema = z.object({
  header: header('productmd.composeinfo'),
  payload: z.looseObject({
    compose: composeHeader,
    release: z.looseObject({
      name: z.string().min(1),
      short: z.string().min(1),
      version: z.string().min(1),
      type: z.string().optional(),
      internal: z.boolean().optional(),
      is_layered: z.boolean().optional(),
    }),
    variants: z.record(
      z.string(),
      z.looseObject({
        id: z.string(),
        uid: z.string(),
        name: z.string(),
        type: z.string(),
        arches: z.array(z.string()),
        paths: z.record(z.string(), z.record(z.string(), z.string())),
      }),
    ),
  }),
});
export type ComposeInfo = z.infer<typeof ComposeInfoSchema>;
