/**
 * The fedmsg envelope as fedmsg.core.publish builds it (docs: ../shared/docs/messages.md §b).
 * datagrepper adds source_name/source_version and a float timestamp; both are accepted.
 */
import { z } from 'zod';

/** `<year>-<uuid4>`, as fedmsg generates it. */
export const MSG_ID_PATTERN = /^\d{4}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const FedmsgEnvelopeSchema = z.looseObject({
  topic: z.string().min(1).max(512),
  msg_id: z.string().regex(MSG_ID_PATTERN, 'expected <year>-<uuid4>'),
  timestamp: z.number().nonnegative(),
  i: z.number().int().nonnegative(),
  username: z.string().min(1),
  msg: z.record(z.string(), z.unknown()),
  crypto: z.enum(['x509', 'gpg']).optional(),
  signature: z.string().optional(),
  certificate: z.string().optional(),
  headers: z.record(z.string(), z.unknown()).optional(),
  source_name: z.string().optional(),
  source_version: z.string().optional(),
});

export type FedmsgEnvelope = z.infer<typeof FedmsgEnvelopeSchema>;

/** The part of a topic after `<prefix>.<environment>.`, e.g. `pungi.compose.status.change`. */
export function topicSuffix(topic: string): string {
  const parts = topic.split('.');
  // org.fedoraproject.prod.X / org.centos.prod.X: drop the two-part prefix and the environment.
  const envIndex = parts.findIndex((p) => p === 'prod' || p === 'stg' || p === 'dev');
  return envIndex >= 0 ? parts.slice(envIndex + 1).join('.') : topic;
}
