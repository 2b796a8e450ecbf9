/** Bodies of Bodhi's bus messages that start or describe a push (../shared/docs/fedora-apis.md §5). */
import { z } from 'zod';
import { kojiTagName } from './identifiers.js';

export const BODHI_REQUESTS = ['testing', 'stable', 'obsolete', 'unpush', 'revoke', 'batched'] as const;
export const CONTENT_TYPES = ['rpm', 'module', 'container', 'flatpak'] as const;

/** `bodhi.composer.start` (Bodhi 4–5): which release/request composes a push covers. */
export const ComposerStartSchema = z.looseObject({
  api_version: z.number().int(),
  agent: z.string().min(1),
  resume: z.boolean(),
  composes: z.array(
    z.looseObject({
      release_id: z.number().int(),
      request: z.enum(BODHI_REQUESTS),
      content_type: z.enum(CONTENT_TYPES),
      security: z.boolean(),
    }),
  ).min(1),
});

export type ComposerStart = z.infer<typeof ComposerStartSchema>;

/** `bodhi.compose.start`: a push began; who asked. */
export const ComposeStartSchema = z.looseObject({ agent: z.string().min(1) });

/** `bodhi.compose.complete`: one repository's push ended. */
export const ComposeCompleteSchema = z.looseObject({
  agent: z.string().min(1),
  repo: z.string().min(1),
  success: z.boolean(),
  ctype: z.enum(CONTENT_TYPES).optional(),
});

/** `bodhi.update.*`: an update changed; only its identity is relied on. */
export const UpdateEventSchema = z.looseObject({
  agent: z.string().min(1).optional(),
  update: z.looseObject({
    title: z.string().min(1),
    alias: z.string().optional(),
    updateid: z.string().nullable().optional(),
    status: z.string().optional(),
    request: z.string().nullable().optional(),
  }),
});

/** A release as Bodhi's REST API returns it: the tags a push moves builds between. */
export const BodhiReleaseSchema = z.looseObject({
  name: z.string().min(1),
  long_name: z.string().optional(),
  version: z.string().min(1),
  dist_tag: kojiTagName,
  state: z.string(),
  // Tags become Koji calls and directories (the fetched repository): by Koji's own grammar.
  candidate_tag: kojiTagName,
  testing_tag: kojiTagName,
  stable_tag: kojiTagName,
  pending_testing_tag: kojiTagName.nullable().optional(),
  pending_stable_tag: kojiTagName.nullable().optional(),
  pending_signing_tag: kojiTagName.nullable().optional(),
});
export type BodhiRelease = z.infer<typeof BodhiReleaseSchema>;

/** Any release record, whatever its state (branching and listing read every field as Bodhi gives it). */
export const BodhiReleaseRecordSchema = z.looseObject({ name: z.string().min(1).max(10), branch: z.string().nullable().optional(), state: z.string().optional() });

/** An update in `GET /updates/`: what a push needs of it. */
export const BodhiUpdateSchema = z.looseObject({
  alias: z.string().min(1),
  title: z.string().optional(),
  status: z.string(),
  request: z.string().nullable(),
  type: z.string().optional(),
  builds: z.array(z.looseObject({ nvr: z.string().min(1), signed: z.boolean().optional() })),
  release: z.looseObject({ name: z.string().min(1) }),
});

export const BodhiReleasesPageSchema = z.looseObject({
  releases: z.array(z.looseObject({ id: z.number().int().optional(), name: z.string().min(1) })),
  page: z.number().int(),
  pages: z.number().int(),
});

export const BodhiUpdatesPageSchema = z.looseObject({
  updates: z.array(BodhiUpdateSchema),
  page: z.number().int(),
  pages: z.number().int(),
  total: z.number().int(),
});
