/**
 * releng-o-tron's voice on fedora-messaging: persistent messages on a confirm channel, each send
 * resolved only when the broker has confirmed it (for a persistent message to a durable queue,
 * once it is on disk). The connection is opened at the first send and again after it is lost.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '../common/logger.js';
import { connectAmqp, redactedUrl, type AmqpSettings } from './amqp-connection.js';
import type { OutgoingAmqpMessage } from './fedora-messaging.js';

export class AmqpPublisher {
  private opening: Promise<{ model: ChannelModel; channel: ConfirmChannel }> | null = null;
  private closed = false;

  constructor(
    private readonly settings: AmqpSettings,
    private readonly log: Logger,
  ) {}

  private open(): Promise<{ model: ChannelModel; channel: ConfirmChannel }> {
    this.opening ??= (async () => {
      const model = await connectAmqp(this.settings, 'publisher');
      const forget = () => {
        this.opening = null;
      };
      model.on('close', forget);
      model.on('error', (err: Error) => this.log.warn({ err: err.message }, 'AMQP publisher connection error'));
      try {
        const channel = await model.createConfirmChannel();
        channel.on('close', () => {
          forget();
          void model.close().catch(() => undefined);
        });
        channel.on('error', (err: Error) => this.log.warn({ err: err.message }, 'AMQP publisher channel error'));
        this.log.info({ broker: redactedUrl(this.settings.url), exchange: this.settings.exchange }, 'AMQP: publishing');
        return { model, channel };
      } catch (err) {
        await model.close().catch(() => undefined);
        throw err;
      }
    })().catch((err: unknown) => {
      this.opening = null;
      throw err;
    });
    return this.opening;
  }

  /** Sends one message; resolves once the broker confirmed it, throws when it nacked, went away or took too long. */
  async publish(message: OutgoingAmqpMessage): Promise<void> {
    if (this.closed) throw new Error('the AMQP publisher is closed');
    const { channel } = await this.open();
    const { exchange, confirmTimeoutMs } = this.settings;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the broker did not confirm ${message.options.messageId} within ${confirmTimeoutMs} ms`)), confirmTimeoutMs);
      try {
        channel.publish(exchange, message.routingKey, message.body, { ...message.options, headers: { ...message.options.headers } }, (err: unknown) => {
          clearTimeout(timer);
          if (err) reject(err instanceof Error ? err : new Error(`the broker refused ${message.options.messageId}`));
          else resolve();
        });
      } catch (err) {
        // The channel closed between open() and here.
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(`cannot publish ${message.options.messageId}`));
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const opened = await this.opening?.catch(() => null);
    await opened?.model.close().catch(() => undefined);
  }
}
