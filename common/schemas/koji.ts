/** Bodies of Koji's bus messages (koji's protonmsg/fedmsg plugin, `buildsys.*`). */
import { z } from 'zod';

/** `buildsys.tag` / `buildsys.untag`: a build went into or out of a tag. */
export const BuildTagChangeSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string().min(1),
  release: z.string().min(1),
  tag: z.string().min(1),
  owner: z.string().min(1),
  user: z.string().min(1),
  tag_id: z.number().int().optional(),
  build_id: z.number().int().optional(),
  instance: z.string().optional(),
});
export type BuildTagChange = z.infer<typeof BuildTagChangeSchema>;

export const nvrOf = (b: { name: string; version: string; release: string }): string => `${b.name}-${b.version}-${b.release}`;
