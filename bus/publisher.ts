/**
 * releng-o-tron's voice on fedmsg: a ZeroMQ PUB socket sending fedmsg's two frames (topic,
 * envelope), with envelopes completed as fedmsg.core.publish does and optionally signed with
 * fedmsg's X.509 scheme. Only activities publish (activities/bus.ts), never workflows.
 */
import { userInfo } from 'node:os';
import { Publisher } from 'zeromq';
import { signEnvelope, type Signer } from '../common/fedmsg-crypto.js';

export interface PublisherOptions {
  readonly endpoint: string;
  /** `org.fedoraproject`: full topics are `<prefix>.<environment>.<topic>`. */
  readonly topicPrefix: string;
  readonly environment: string;
  readonly signer?: Signer | null;
}

export interface OutgoingEnvelope {
  readonly topic: string;
  readonly msg_id: string;
  readonly timestamp: number;
  readonly i: number;
  readonly username: string;
  readonly msg: Record<string, unknown>;
  readonly crypto?: 'x509';
  readonly signature?: string;
  readonly certificate?: string;
}

/**
 * Completes envelopes the way fedmsg.core.publish does, signed when a signer is configured. Every
 * transport sends from the envelope: fedmsg as it is, fedora-messaging its `msg` with headers.
 */
export class EnvelopeBuilder {
  private sequence = 0;
  private readonly username = userInfo().username;

  constructor(private readonly options: Omit<PublisherOptions, 'endpoint'>) {}

  fullTopic(topic: string): string {
    return `${this.options.topicPrefix}.${this.options.environment}.${topic}`;
  }

  /** Completes an envelope for a message (not sent yet). */
  envelope(topic: string, msgId: string, msg: Record<string, unknown>, sentAt = new Date()): OutgoingEnvelope {
    const envelope: OutgoingEnvelope = {
      topic: this.fullTopic(topic),
      msg_id: msgId,
      // fedmsg sends whole seconds as an int
      timestamp: Math.trunc(sentAt.getTime() / 1000),
      i: ++this.sequence,
      username: this.username,
      msg,
    };
    return this.options.signer ? signEnvelope({ ...envelope }, this.options.signer) : envelope;
  }
}

export class FedmsgPublisher extends EnvelopeBuilder {
  private constructor(
    private readonly socket: Publisher,
    private readonly bound: PublisherOptions,
  ) {
    super(bound);
  }

  /** Binds the PUB socket; subscribers (the hub, datanommer, other listeners) connect to it. */
  // `override`: a class is a Function, and Function.prototype.bind is what this static shadows.
  static override async bind(options: PublisherOptions): Promise<FedmsgPublisher> {
    // linger: what is queued at close still goes out for a moment, as fedmsg's zmq_linger does.
    const socket = new Publisher({ linger: 1000, sendHighWaterMark: 10_000 });
    await socket.bind(options.endpoint);
    return new FedmsgPublisher(socket, options);
  }

  /** The endpoint actually bound (tcp://127.0.0.1:0 becomes a real port). */
  get endpoint(): string {
    return this.socket.lastEndpoint ?? this.bound.endpoint;
  }

  /** Sends an envelope given as its exact JSON text. */
  async send(topic: string, envelopeJson: string): Promise<void> {
    await this.socket.send([topic, envelopeJson]);
  }

  close(): void {
    this.socket.close();
  }
}
