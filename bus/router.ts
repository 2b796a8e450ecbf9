/**
 * Which bus messages start work, and what work. A route matches on the topic (after the
 * `<prefix>.<env>.` part), checks the body against its schema, and decides: start a run with a
 * deterministic workflow ID, or record the fact and start nothing.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from '../common/db.js';
import { FINISHED_STATUSES, ComposeStatusChangeSchema } from '../common/schemas/pungi.js';
import { topicSuffix, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { workflowIds } from '../common/workflow-ids.js';
import { recordComposeStatusEvent } from '../activities/results-store.js';
import { startComposeDiscovery, type StartResult, type Trigger } from '../client/start.js';

export type Decision =
  | {
      readonly kind: 'start';
      readonly workflowId: string;
      readonly start: (client: Client, trigger: Trigger) => Promise<StartResult>;
    }
  | { readonly kind: 'record'; readonly reason: string; readonly record: (pool: Pool) => Promise<void> };

export class InvalidBodyError extends Error {
  override name = 'InvalidBodyError';
}

interface Route {
  readonly topic: string;
  decide(envelope: FedmsgEnvelope): Decision;
}

const ROUTES: readonly Route[] = [
  {
    topic: 'pungi.compose.status.change',
    decide(envelope) {
      const parsed = ComposeStatusChangeSchema.safeParse(envelope.msg);
      if (!parsed.success) {
        throw new InvalidBodyError(
          `pungi.compose.status.change body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      }
      const body = parsed.data;
      if (FINISHED_STATUSES.includes(body.status)) {
        const input = { composeId: body.compose_id, location: body.location, pungiStatus: body.status };
        return {
          kind: 'start',
          workflowId: workflowIds.composeDiscovery(body.compose_id),
          start: (client, trigger) => startComposeDiscovery(client, input, trigger),
        };
      }
      return {
        kind: 'record',
        reason: `compose status ${body.status} starts no work`,
        record: (pool) =>
          recordComposeStatusEvent(pool, {
            composeId: body.compose_id,
            status: body.status,
            location: body.location,
            msgId: envelope.msg_id,
          }),
      };
    },
  },
];

/** Topics (after `<prefix>.<env>.`) that releng-o-tron reacts to; backfill asks datagrepper for these. */
export const ROUTED_TOPICS: readonly string[] = ROUTES.map((route) => route.topic);

/** Full topics worth backfilling: every configured prefix times every routed topic. */
export function backfillTopics(prefixes: readonly string[]): string[] {
  return prefixes.flatMap((prefix) => ROUTED_TOPICS.map((topic) => `${prefix}.${topic}`));
}

/** The route for a topic, or undefined when releng-o-tron does not react to it. */
export function routeFor(topic: string): Route | undefined {
  const suffix = topicSuffix(topic);
  return ROUTES.find((route) => route.topic === suffix);
}
