/**
 * The body schema of every topic releng-o-tron can react to (item 2 of the bus contract). The
 * listener checks a body before the message reaches the inbox; a route may only name a topic
 * listed here.
 */
import type { z } from 'zod';
import { ComposeCompleteSchema, ComposeStartSchema, ComposerStartSchema, UpdateEventSchema } from '../common/schemas/bodhi.js';
import { CI_SCHEMAS, parseCiTopic } from '../common/schemas/ci.js';
import { BuildTagChangeSchema } from '../common/schemas/koji.js';
import { ComposeStatusChangeSchema } from '../common/schemas/pungi.js';
import { GreenwaveDecisionSchema, ResultsdbResultSchema } from '../common/schemas/results.js';

const BODIES: Readonly<Record<string, z.ZodType>> = {
  'pungi.compose.status.change': ComposeStatusChangeSchema,
  'buildsys.tag': BuildTagChangeSchema,
  'buildsys.untag': BuildTagChangeSchema,
  'bodhi.composer.start': ComposerStartSchema,
  'bodhi.compose.start': ComposeStartSchema,
  'bodhi.compose.complete': ComposeCompleteSchema,
  'bodhi.update.request.stable': UpdateEventSchema,
  'bodhi.update.request.testing': UpdateEventSchema,
  'bodhi.update.complete.stable': UpdateEventSchema,
  'bodhi.update.complete.testing': UpdateEventSchema,
  'greenwave.decision.update': GreenwaveDecisionSchema,
  'resultsdb.result.new': ResultsdbResultSchema,
};

/** The schema for a topic's body (after `<prefix>.<env>.`), or null when no schema is known. */
export function bodySchemaFor(topic: string): z.ZodType | null {
  const ci = parseCiTopic(topic);
  if (ci) return CI_SCHEMAS[ci.event];
  return BODIES[topic] ?? null;
}
