/**
 * The fedmsg envelope as fedmsg.core.publish builds it (docs: ../shared/docs/messages.md §b).
 * datagrepper adds source_name/source_version and a float timestamp; both are accepted.
 */
import { z } from 'zod';

/** `<year>-<uuid4>`, as fedmsg generates it. */
export const MSG_ID_PATTERN = /^\d{4}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Sent times the listener believes (epoch seconds): 2000-01-01 to 2100-01-01. */
export const SANE_TIMESTAMPS = { min: 946_684_800, max: 4_102_444_800 } as const;

/** `org.fedoraproject.prod.pungi.compose.status.change`: dotted words, bounded. */
export const TOPIC_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$/;

export const FedmsgEnvelopeSchema = z.looseObject({
  topic: z.string().regex(TOPIC_PATTERN, 'expected a dotted topic of at most 255 characters'),
  msg_id: z.string().regex(MSG_ID_PATTERN, 'expected <year>-<uuid4>'),
  timestamp: z
    .number()
    .min(SANE_TIMESTAMPS.min, 'expected epoch seconds after 2000-01-01')
    .max(SANE_TIMESTAMPS.max, 'expected epoch seconds before 2100-01-01'),
  i: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  username: z.string().min(1).max(255),
  msg: z.record(z.string(), z.unknown()),
  crypto: z.enum(['x509', 'gpg']).optional(),
  signature: z.string().max(16_384).optional(),
  certificate: z.string().max(65_536).optional(),
  headers: z.record(z.string(), z.unknown()).optional(),
  source_name: z.string().max(255).optional(),
  source_version: z.string().max(255).optional(),
});

export type FedmsgEnvelope = z.infer<typeof FedmsgEnvelopeSchema>;

/**
 * The part of a topic after one of the accepted `<prefix>.<environment>` prefixes
 * (`org.fedoraproject.prod` → `pungi.compose.status.change`), or null when the topic is not under
 * any of them: a message from another environment or a made-up namespace is never ours to act on.
 */
export function acceptedTopic(topic: string, prefixes: readonly string[]): string | null {
  for (const prefix of prefixes) {
    if (topic.length > prefix.length + 1 && topic.startsWith(`${prefix}.`)) return topic.slice(prefix.length + 1);
  }
  return null;
}
