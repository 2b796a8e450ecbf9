/** Bodies of Koji's bus messages (koji's protonmsg/fedmsg plugin, `buildsys.*`). */
import { z } from 'zod';
import { boundedText, kojiTagName, rpmName, rpmVersion } from './identifiers.js';

/** `buildsys.tag` / `buildsys.untag`: a build went into or out of a tag. */
export const BuildTagChangeSchema = z.looseObject({
  name: rpmName,
  version: rpmVersion,
  release: rpmVersion,
  tag: kojiTagName,
  owner: boundedText(255),
  user: boundedText(255),
  tag_id: z.number().int().optional(),
  build_id: z.number().int().optional(),
  instance: z.string().max(100).optional(),
});
export type BuildTagChange = z.infer<typeof BuildTagChangeSchema>;

export const nvrOf = (b: { name: string; version: string; release: string }): string => `${b.name}-${b.version}-${b.release}`;
