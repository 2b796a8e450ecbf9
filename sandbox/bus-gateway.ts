/**
 * The sandbox's bus: what hub.fedoraproject.org:9940 is for Fedora. An XPUB socket (so it knows
 * when a subscriber has joined) sending fedmsg's two frames, and datanommer's job of keeping
 * every envelope for datagrepper.
 */
import { randomUUID } from 'node:crypto';
import { XPublisher } from 'zeromq';
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
  ) {
    this.socket = new XPublisher({ sendHighWaterMark: 0 });
    this.watching = this.watchSubscriptions();
  }

  static async open(endpoint: string, datagrepper: Datagrepper): Promise<BusGateway> {
    const gateway = new BusGateway(endpoint, datagrepper);
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
    return envelope;
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
