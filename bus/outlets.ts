/**
 * Where what releng-o-tron publishes goes: fedmsg (the PUB socket), fedora-messaging (the broker),
 * or both, as `bus.transport` says. One envelope per message serves every transport.
 */
import { readFileSync } from 'node:fs';
import { usesTransport, type Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { amqpSettings } from './amqp-connection.js';
import { AmqpPublisher } from './amqp-publisher.js';
import { EnvelopeBuilder, FedmsgPublisher } from './publisher.js';


export interface BusOutlets {
  readonly envelopes: EnvelopeBuilder;
  /** null: fedmsg is not spoken. */
  readonly fedmsg: FedmsgPublisher | null;
  /** null: fedora-messaging is not spoken. */
  readonly amqp: AmqpPublisher | null;
}

export async function openBusOutlets(config: Pick<Config, 'bus'>, log: Logger): Promise<BusOutlets & { close(): Promise<void> }> {
  const { signing, transport } = config.bus;
  const options = {
    topicPrefix: config.bus.topicPrefix,
    environment: config.bus.environment,
    signer: signing ? { certificate: readFileSync(signing.certificate, 'utf8'), key: readFileSync(signing.key, 'utf8') } : null,
  };
  const fedmsg = usesTransport(transport, 'fedmsg') ? await FedmsgPublisher.bind({ ...options, endpoint: config.bus.publishEndpoint }) : null;
  const amqp = usesTransport(transport, 'amqp') ? new AmqpPublisher(amqpSettings(config), log) : null;
  log.info({ transport, fedmsgEndpoint: fedmsg?.endpoint ?? null, signed: Boolean(signing) }, 'publishing on the bus');
  return {
    envelopes: fedmsg ?? new EnvelopeBuilder(options),
    fedmsg,
    amqp,
    async close() {
      fedmsg?.close();
      await amqp?.close();
    },
  };
}
