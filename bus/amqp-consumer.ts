/**
 * fedora-messaging on the wire, inbound: a durable queue bound to every routed topic under the
 * accepted prefixes, consumed with a prefetch window. A delivery is acked only once the inbox has
 * it (stored, or a duplicate), or it was refused and kept as a dead letter; nothing is ever
 * requeued by us, so a poison message cannot come round forever. A lost connection or channel is
 * reopened with backoff: what was delivered and not acked comes back from the broker, and the
 * inbox's message-ID key makes the second delivery a duplicate.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../common/logger.js';
import { connectAmqp, redactedUrl, type AmqpSettings } from './amqp-connection.js';
import type { AmqpMessage } from './fedora-messaging.js';
import type { ReceiveOutcome } from './listener.js';

export interface AmqpConsumerOptions {
  readonly settings: AmqpSettings;
  /** Routing keys the queue is bound to (full topics). */
  readonly bindings: readonly string[];
  readonly log: Logger;
  /** Stores a message durably; 'stopped' when the process stops first (then it is left unacked). */
  readonly receive: (message: AmqpMessage) => Promise<ReceiveOutcome | 'stopped'>;
}

/** The delivery's parts the listener reads; everything else the broker says stays out. */
function messageOf(delivery: ConsumeMessage): AmqpMessage {
  const p = delivery.properties;
  return {
    routingKey: delivery.fields.routingKey,
    body: delivery.content,
    properties: {
      ...(p.messageId !== undefined && p.messageId !== null ? { messageId: String(p.messageId) } : {}),
      ...(p.contentType ? { contentType: String(p.contentType) } : {}),
      ...(p.contentEncoding ? { contentEncoding: String(p.contentEncoding) } : {}),
      ...(typeof p.deliveryMode === 'number' ? { deliveryMode: p.deliveryMode } : {}),
      ...(p.headers ? { headers: p.headers } : {}),
    },
  };
}

export class AmqpConsumer {
  readonly counters = { deliveries: 0, redelivered: 0, acked: 0, rejected: 0, connections: 0 };
  connected = false;
  private stopping = false;
  private model: ChannelModel | null = null;
  private running: Promise<void> | null = null;
  private wakeFromPause: () => void = () => undefined;

  constructor(private readonly options: AmqpConsumerOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeFromPause();
    // Unacked deliveries go back to the queue when the connection closes: the next start gets them.
    await this.model?.close().catch(() => undefined);
    await this.running;
  }

  private async loop(): Promise<void> {
    const { settings, log } = this.options;
    let delay = settings.reconnectFirstMs;
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.session();
      } catch (err) {
        if (!this.stopping) log.warn({ err: (err as Error).message, broker: redactedUrl(settings.url), retryInMs: delay }, 'AMQP: cannot consume; will reconnect');
      }
      if (this.stopping) break;
      if (worked) delay = settings.reconnectFirstMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeFromPause = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!worked) delay = Math.min(delay * 2, settings.reconnectLongestMs);
    }
  }

  /**
   * One connection's life: declare, bind, consume, until the connection or the channel closes.
   * True when it acked or rejected something, or lasted a minute (the next reconnect starts from the first delay).
   */
  private async session(): Promise<boolean> {
    const { settings, log, bindings } = this.options;
    const model = await connectAmqp(settings, 'bus listener');
    this.model = model;
    // stop() came while connecting: it had nothing to close yet.
    if (this.stopping) {
      await model.close().catch(() => undefined);
      return false;
    }
    const ackedBefore = this.counters.acked + this.counters.rejected;
    const startedAt = Date.now();
    try {
      const closed = new Promise<void>((resolve) => {
        model.on('close', () => resolve());
        model.on('error', (err: Error) => log.warn({ err: err.message }, 'AMQP connection error'));
      });
      const channel = await model.createChannel();
      const channelClosed = new Promise<void>((resolve) => {
        channel.on('close', () => resolve());
        channel.on('error', (err: Error) => log.warn({ err: err.message }, 'AMQP channel error'));
      });
      await channel.prefetch(settings.prefetch);
      await channel.assertQueue(settings.queue, {
        durable: true,
        ...(settings.deadLetterExchange ? { deadLetterExchange: settings.deadLetterExchange } : {}),
      });
      for (const key of bindings) await channel.bindQueue(settings.queue, settings.exchange, key);
      let open = true;
      void channelClosed.then(() => (open = false));
      // One delivery at a time, in order: the inbox sees them as the broker sent them.
      let work = Promise.resolve();
      const { consumerTag } = await channel.consume(
        settings.queue,
        (delivery) => {
          if (delivery === null) {
            // The broker cancelled us (the queue was deleted): reconnecting declares it again.
            log.warn({ queue: settings.queue }, 'AMQP: the broker cancelled the consumer; reconnecting');
            void model.close().catch(() => undefined);
            return;
          }
          // A handler that threw would break the chain for every delivery after it: say so, and go on
          // (the delivery stays unacked and comes again after the next reconnect).
          work = work.then(() => this.handle(channel, delivery, () => open)).catch((err: unknown) => log.error({ err: (err as Error).message }, 'AMQP: a delivery could not be handled'));
        },
        { noAck: false },
      );
      this.connected = true;
      this.counters.connections++;
      log.info({ broker: redactedUrl(settings.url), queue: settings.queue, bindings: bindings.length, consumerTag }, 'AMQP: consuming');
      await Promise.race([closed, channelClosed]);
      if (!this.stopping) log.warn({ queue: settings.queue }, 'AMQP: lost the broker; unacked deliveries will come again');
      await work;
    } finally {
      this.connected = false;
      this.model = null;
      await model.close().catch(() => undefined);
    }
    // A session counts as working only if it settled a delivery: one that dies on the same
    // delivery every time (a frame the client cannot parse) backs off instead of hammering.
    return this.counters.acked + this.counters.rejected > ackedBefore || Date.now() - startedAt > 60_000;
  }

  private async handle(channel: Channel, delivery: ConsumeMessage, isOpen: () => boolean): Promise<void> {
    this.counters.deliveries++;
    if (delivery.fields.redelivered) this.counters.redelivered++;
    const outcome = await this.options.receive(messageOf(delivery));
    // Stopping, or the channel went away meanwhile: the broker delivers it again, and the inbox dedupes.
    if (outcome === 'stopped' || !isOpen()) return;
    try {
      if (outcome === 'dead-letter' && this.options.settings.deadLetterExchange) {
        channel.nack(delivery, false, false);
        this.counters.rejected++;
      } else {
        channel.ack(delivery);
        this.counters.acked++;
      }
    } catch (err) {
      this.options.log.debug({ err: (err as Error).message }, 'AMQP: could not ack; the delivery will come again');
    }
  }
}
