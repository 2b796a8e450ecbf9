/**
 * The sandbox's bus: what hub.fedoraproject.org:9940 is for Fedora. An XPUB socket (so it knows
 * when a subscriber has joined) sending fedmsg's two frames, and datanommer's job of keeping
 * every envelope for datagrepper. With a broker, it is also Fedora's fedmsg→AMQP bridge (every
 * message published on both, the same message ID), and a fedora-messaging publisher of its own.
 */
import { randomUUID } from 'node:crypto';
import { XPublisher } from 'zeromq';
import type { AmqpPublisher } from '../bus/amqp-publisher.js';
import { amqpMessageFor } from '../bus/fedora-messaging.js';
import type { Datagrepper } from './datagrepper.js';

export type Envelope = Record<string, unknown> & { topic: string; msg_id: string; timestamp: number; msg: unknown };

export class BusGateway {
  private counter = 0;
  private subscriptions = 0;
  private readonly socket: XPublisher;
  private readonly watching: Promise<void>;

  private constructor(
    readonly endpoint: string,
    private readonly datagrepper: Datagrepper,
    /** The broker every published message is bridged to; null: fedmsg only. */
    private readonly amqp: AmqpPublisher | null,
  ) {
    this.socket = new XPublisher({ sendHighWaterMark: 0 });
    this.watching = this.watchSubscriptions();
  }

  static async open(endpoint: string, datagrepper: Datagrepper, amqp: AmqpPublisher | null = null): Promise<BusGateway> {
    const gateway = new BusGateway(endpoint, datagrepper, amqp);
    await gateway.socket.bind(endpoint);
    return gateway;
  }

  private async watchSubscriptions(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (frame?.[0] === 1) this.subscriptions++;
        else if (frame?.[0] === 0) this.subscriptions--;
      }
    } catch {
      // closed
    }
  }

  get subscriberCount(): number {
    return this.subscriptions;
  }

  /** Waits until at least `count` subscriptions are in, so nothing is published into the void. */
  async waitForSubscribers(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.subscriptions < count) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  /** Completes an envelope the way fedmsg.core.publish does, records and sends it. */
  async publish(input: { topic: string; msg: unknown } & Partial<Envelope>): Promise<Envelope> {
    const envelope: Envelope = {
      i: ++this.counter,
      username: 'sandbox',
      timestamp: Math.floor(Date.now() / 1000),
      msg_id: `${new Date().getUTCFullYear()}-${randomUUID()}`,
      ...input,
    };
    await this.sendRaw([envelope.topic, JSON.stringify(envelope)], envelope);
    // The bridge keeps fedmsg's <year>-<uuid> as the AMQP message ID: a listener on both transports sees one message.
    await this.amqp?.publish(amqpMessageFor(envelope));
    return envelope;
  }

  /** True when messages also go out on fedora-messaging. */
  get bridged(): boolean {
    return this.amqp !== null;
  }

  /**
   * Publishes a message only on fedora-messaging, as an AMQP-native app (Bodhi today) does: a bare
   * UUID4 ID, no fedmsg envelope. datanommer keeps it with that ID and its headers.
   */
  async publishFedoraMessaging(input: { topic: string; body: Record<string, unknown>; id?: string; sentAt?: number }): Promise<{ id: string; sentAt: number }> {
    if (!this.amqp) throw new Error('the sandbox bus has no AMQP broker');
    const id = input.id ?? randomUUID();
    const sentAt = input.sentAt ?? Math.floor(Date.now() / 1000);
    const message = amqpMessageFor({ topic: input.topic, msg_id: id, timestamp: sentAt, msg: input.body });
    await this.amqp.publish(message);
    this.datagrepper.add({ topic: input.topic, msg_id: id, timestamp: sentAt, i: 0, username: 'fedora-messaging', msg: input.body, headers: message.options.headers });
    return { id, sentAt };
  }

  /** Sends frames exactly as given (tests use it for malformed input); records parseable envelopes. */
  async sendRaw(frames: (string | Buffer)[], record?: Envelope): Promise<void> {
    if (record) this.datagrepper.add(record);
    await this.socket.send(frames);
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.watching;
  }
}
