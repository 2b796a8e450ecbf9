/** Bodies of pungi's bus messages (pungi notifier → fedmsg). */
import { z } from 'zod';
import { composeId, messageUrl } from './identifiers.js';

export const COMPOSE_STATUSES = ['STARTED', 'FINISHED', 'FINISHED_INCOMPLETE', 'DOOMED', 'TERMINATED'] as const;
export type ComposeStatus = (typeof COMPOSE_STATUSES)[number];

/** Statuses after which a compose's deliverables exist and can be looked at. */
export const FINISHED_STATUSES: readonly ComposeStatus[] = ['FINISHED', 'FINISHED_INCOMPLETE'];

export const ComposeStatusChangeSchema = z.looseObject({
  compose_id: composeId,
  location: messageUrl,
  status: z.enum(COMPOSE_STATUSES),
  release_short: z.string().max(100).optional(),
  release_version: z.string().max(100).optional(),
  release_type: z.string().max(100).optional(),
  compose_type: z.string().max(100).optional(),
  compose_date: z.string().max(100).optional(),
  compose_respin: z.number().int().optional(),
  compose_label: z.string().max(100).nullable().optional(),
});

export type ComposeStatusChange = z.infer<typeof ComposeStatusChangeSchema>;
