/**
 * fedmsg on the wire: a ZeroMQ SUB socket connected to every configured publisher, receiving
 * two-frame messages (topic, JSON envelope). ZeroMQ reconnects by itself; the options mirror
 * fedmsg's (TCP keepalive, 100 ms → 1 s reconnect backoff). A bounded receive queue keeps memory bounded while the listener holds
 * back; what the publisher drops meanwhile is recovered from datagrepper.
 */
import { Subscriber } from 'zeromq';

export interface SubscriberOptions {
  readonly endpoints: readonly string[];
  /** Topic prefixes; empty string or none = everything. */
  readonly topics?: readonly string[];
  /** Called before connecting: ZeroMQ's monitor only reports events after it is attached. */
  readonly observe?: (socket: Subscriber) => void;
  /** Messages ZeroMQ keeps while nobody reads; 0: no limit (memory grows while the reader waits). */
  readonly receiveQueue?: number;
  /** A publisher that sends a larger message is disconnected by ZeroMQ (ZMQ_MAXMSGSIZE); unset: no cap. */
  readonly maxMessageBytes?: number;
}

export function openSubscriber(options: SubscriberOptions): Subscriber {
  const socket = new Subscriber({
    receiveHighWaterMark: options.receiveQueue ?? 0,
    reconnectInterval: 100,
    reconnectMaxInterval: 1000,
    tcpKeepalive: 1,
    tcpKeepaliveCount: 3,
    tcpKeepaliveIdle: 60,
    tcpKeepaliveInterval: 5,
    ...(options.maxMessageBytes ? { maxMessageSize: options.maxMessageBytes } : {}),
  });
  options.observe?.(socket);
  for (const endpoint of options.endpoints) socket.connect(endpoint);
  const topics = options.topics?.length ? options.topics : [''];
  for (const topic of topics) socket.subscribe(topic);
  return socket;
}
