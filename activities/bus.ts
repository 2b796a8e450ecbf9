/**
 * Publishing to the bus. The envelope for a msg_id is built once and kept in Postgres (bus_outbox),
 * so a retry after a crash sends identical bytes and a receiver sees a duplicate, never a second
 * message; a message already sent on a transport is not sent there again. On fedora-messaging a
 * message counts as sent only once the broker confirmed it. Workflows choose the msg_id
 * (deterministic), which makes the whole publish idempotent per msg_id.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../common/db.js';
import { outgoingMessageProblems } from '../common/schemas/outgoing.js';
import { MSG_ID_PATTERN } from '../common/schemas/fedmsg.js';
import { amqpMessageFor } from '../bus/fedora-messaging.js';
import type { BusOutlets } from '../bus/outlets.js';
import type { OutgoingEnvelope } from '../bus/publisher.js';

export const OUTGOING_MESSAGE_INVALID = 'OutgoingMessageInvalid';

export interface PublishMessageInput {
  /** `<year>-<uuid4>`, chosen by the workflow so that retries reuse it. */
  readonly msgId: string;
  /** Topic after `<prefix>.<env>.`, e.g. `ci.koji-build.test.complete`. */
  readonly topic: string;
  readonly body: Record<string, unknown>;
}

export interface PublishMessageResult {
  readonly msgId: string;
  readonly topic: string;
  /** False when an earlier attempt had already sent it on every transport. */
  readonly sentNow: boolean;
}

export interface BusActivities {
  publishMessage(input: PublishMessageInput): Promise<PublishMessageResult>;
}

export function createBusActivities(deps: { readonly pool: Pool; readonly bus: BusOutlets }): BusActivities {
  const { pool, bus } = deps;
  return {
    async publishMessage(input: PublishMessageInput): Promise<PublishMessageResult> {
      if (!MSG_ID_PATTERN.test(input.msgId)) {
        throw ApplicationFailure.nonRetryable(`msg_id ${JSON.stringify(input.msgId)} is not <year>-<uuid4>`, OUTGOING_MESSAGE_INVALID);
      }
      const problems = outgoingMessageProblems(input.topic, input.body);
      if (problems.length > 0) {
        throw ApplicationFailure.nonRetryable(`refusing to publish ${input.topic}: ${problems.join('; ')}`, OUTGOING_MESSAGE_INVALID);
      }
      const built = bus.envelopes.envelope(input.topic, input.msgId, input.body);
      await pool.query('INSERT INTO bus_outbox (msg_id, topic, envelope) VALUES ($1, $2, $3) ON CONFLICT (msg_id) DO NOTHING', [
        input.msgId,
        built.topic,
        JSON.stringify(built),
      ]);
      const { rows } = await pool.query<{ topic: string; envelope: string; fedmsg_sent: boolean; amqp_sent: boolean }>(
        'SELECT topic, envelope, sent_at IS NOT NULL AS fedmsg_sent, amqp_sent_at IS NOT NULL AS amqp_sent FROM bus_outbox WHERE msg_id = $1',
        [input.msgId],
      );
      const stored = rows[0]!;
      let sentNow = false;
      if (bus.fedmsg && !stored.fedmsg_sent) {
        await bus.fedmsg.send(stored.topic, stored.envelope);
        await pool.query('UPDATE bus_outbox SET sent_at = now(), sends = sends + 1 WHERE msg_id = $1', [input.msgId]);
        sentNow = true;
      }
      if (bus.amqp && !stored.amqp_sent) {
        // Resolves only on the broker's confirm: a crash before it leaves the row unsent, and the retry sends the same message ID.
        await bus.amqp.publish(amqpMessageFor(JSON.parse(stored.envelope) as OutgoingEnvelope));
        await pool.query('UPDATE bus_outbox SET amqp_sent_at = now(), amqp_sends = amqp_sends + 1 WHERE msg_id = $1', [input.msgId]);
        sentNow = true;
      }
      return { msgId: input.msgId, topic: stored.topic, sentNow };
    },
  };
}
