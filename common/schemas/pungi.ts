/** Bodies of pungi's bus messages (pungi notifier → fedmsg). */
import { z } from 'zod';

export const COMPOSE_STATUSES = ['STARTED', 'FINISHED', 'FINISHED_INCOMPLETE', 'DOOMED', 'TERMINATED'] as const;
export type ComposeStatus = (typeof COMPOSE_STATUSES)[number];

/** Statuses after which a compose's deliverables exist and can be looked at. */
export const FINISHED_STATUSES: readonly ComposeStatus[] = ['FINISHED', 'FINISHED_INCOMPLETE'];

export const ComposeStatusChangeSchema = z.looseObject({
  compose_id: z.string().min(1),
  location: z.string().regex(/^https?:\/\//, 'expected the compose URL'),
  status: z.enum(COMPOSE_STATUSES),
  release_short: z.string().optional(),
  release_version: z.string().optional(),
  release_type: z.string().optional(),
  compose_type: z.string().optional(),
  compose_date: z.string().optional(),
  compose_respin: z.number().int().optional(),
  compose_label: z.string().nullable().optional(),
});

export type ComposeStatusChange = z.infer<typeof ComposeStatusChangeSchema>;
