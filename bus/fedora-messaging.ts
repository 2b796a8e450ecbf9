/**
 * fedora-messaging's wire format (AMQP 0-9-1), both ways (../shared/docs/messages.md §f): the
 * routing key is the full topic, the body the JSON object fedmsg called `msg`, the message ID an
 * AMQP property, and the sent time, schema and severity headers. A message read here becomes the
 * same envelope its fedmsg twin would be, so the router, the inbox and its dedupe treat the two
 * transports alike.
 */
import { MSG_ID_PATTERN, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { storableText } from '../common/storable-text.js';

/** The AMQP properties releng-o-tron reads and keeps (a dead letter stores them as JSON). */
export interface AmqpProperties {
  readonly messageId?: string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly deliveryMode?: number;
  readonly headers?: Record<string, unknown>;
}

/** One AMQP delivery as the listener sees it: what the broker handed over, nothing interpreted yet. */
export interface AmqpMessage {
  readonly routingKey: string;
  readonly properties: AmqpProperties;
  readonly body: Buffer;
}

/** fedora-messaging's severities (logging levels): DEBUG, INFO, WARNING, ERROR. */
const SEVERITIES = new Set([10, 20, 30, 40]);
export const INFO_SEVERITY = 20;

/** fedora-messaging's own message IDs are bare UUIDs; fedmsg's (and the ZMQ→AMQP bridge's) are `<year>-<uuid>`. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `sent-at`: ISO 8601 with a UTC offset (`2019-07-30T19:12:22+00:00`). A time without an offset
 * is ambiguous and refused.
 */
const SENT_AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)$/;

export type AmqpDecoded =
  | { readonly ok: true; readonly envelope: FedmsgEnvelope; readonly json: string }
  | { readonly ok: false; readonly error: string; readonly msgId: string | null };

/**
 * The inbox key of an AMQP message ID: a fedmsg-style `<year>-<uuid>` as it is; a bare UUID gets
 * the year it was sent, as the AMQP→ZMQ bridge prefixes it, so its fedmsg twin has the same key.
 */
export function inboxMessageId(messageId: string, sentAtSeconds: number): string | null {
  if (MSG_ID_PATTERN.test(messageId)) return messageId;
  if (UUID_PATTERN.test(messageId)) return `${new Date(sentAtSeconds * 1000).getUTCFullYear()}-${messageId}`;
  return null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A header value as a refusal quotes it: short, escaped, and never a walk through a nested table. */
function quoted(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(storableText(value, 100));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value ?? null);
  return `(${Array.isArray(value) ? 'an array' : Buffer.isBuffer(value) ? 'bytes' : `a ${typeof value}`})`;
}

/**
 * Reads a delivery into an envelope, or says exactly why it cannot be read. The body's JSON limits
 * (size, depth) are the caller's; this checks the AMQP side: properties, headers, encoding.
 */
export function decodeAmqpMessage(message: AmqpMessage, parseBody: (text: string) => { ok: true; value: unknown } | { ok: false; error: string }): AmqpDecoded {
  const { properties } = message;
  const rawId = typeof properties.messageId === 'string' ? properties.messageId.slice(0, 200) : null;
  const fail = (error: string, msgId: string | null = rawId): AmqpDecoded => ({ ok: false, error, msgId });
  if (rawId === null) return fail('no message_id property: it cannot be told from a redelivery');
  const contentType = properties.contentType?.toLowerCase();
  if (contentType !== undefined && contentType !== 'application/json') return fail(`content_type ${quoted(contentType)} is not application/json`);
  const encoding = properties.contentEncoding?.toLowerCase();
  if (encoding !== undefined && encoding !== 'utf-8' && encoding !== 'utf8') return fail(`content_encoding ${quoted(encoding)} is not utf-8`);
  const headers = properties.headers ?? {};
  const schema = headers['fedora_messaging_schema'];
  if (typeof schema !== 'string' || schema.length === 0 || schema.length > 255) return fail('header fedora_messaging_schema is missing or not a schema name');
  const severity = headers['fedora_messaging_severity'];
  if (typeof severity !== 'number' || !SEVERITIES.has(severity)) return fail(`header fedora_messaging_severity ${quoted(severity)} is not 10, 20, 30 or 40`);
  const sentAtText = headers['sent-at'];
  const sentAtMs = typeof sentAtText === 'string' && SENT_AT_PATTERN.test(sentAtText) ? Date.parse(sentAtText) : NaN;
  if (Number.isNaN(sentAtMs)) return fail(`header sent-at ${quoted(sentAtText)} is not an ISO 8601 time with a UTC offset`);
  const timestamp = Math.trunc(sentAtMs / 1000);
  const msgId = inboxMessageId(rawId, timestamp);
  if (msgId === null) return fail(`message_id ${quoted(rawId)} is neither a UUID nor <year>-<uuid>`);
  let text: string;
  try {
    text = strictUtf8.decode(message.body);
  } catch {
    return fail('body is not valid UTF-8', msgId);
  }
  const parsed = parseBody(text);
  if (!parsed.ok) return fail(`body ${parsed.error}`, msgId);
  const body = parsed.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('body is not a JSON object', msgId);
  // The envelope its fedmsg twin would be (the AMQP→ZMQ bridge builds the same, with username amqp-bridge).
  const envelope = {
    topic: message.routingKey,
    msg_id: msgId,
    timestamp,
    i: 0,
    username: 'fedora-messaging',
    msg: body as Record<string, unknown>,
    headers: storableHeaders(headers),
  };
  return { ok: true, envelope, json: JSON.stringify(envelope) };
}

/**
 * AMQP header values as JSON a dead letter and an envelope can hold: text made storable, bytes as
 * text, nested tables kept a few levels deep, anything else as text.
 */
export function storableHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const convert = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
    if (typeof value === 'string') return storableText(value, 4096);
    if (Buffer.isBuffer(value)) return storableText(value.toString('utf8'), 4096);
    if (depth >= 4) return '(nested too deep)';
    if (Array.isArray(value)) return value.slice(0, 64).map((v) => convert(v, depth + 1));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).slice(0, 64).map(([k, v]) => [storableText(k, 255), convert(v, depth + 1)]));
    // bigint, symbol, function: none comes off the wire, but a header table may hold a 64-bit integer.
    return storableText(typeof value === 'bigint' ? value.toString() : typeof value, 4096);
  };
  return convert(headers, 0) as Record<string, unknown>;
}

/** The properties of a delivery as they are kept with a dead letter. */
export function storableProperties(properties: AmqpProperties): AmqpProperties {
  const text = (v: unknown, max: number) => (typeof v === 'string' ? storableText(v, max) : undefined);
  return {
    messageId: text(properties.messageId, 200),
    contentType: text(properties.contentType, 200),
    contentEncoding: text(properties.contentEncoding, 200),
    deliveryMode: typeof properties.deliveryMode === 'number' ? properties.deliveryMode : undefined,
    headers: properties.headers ? storableHeaders(properties.headers) : undefined,
  };
}

/** `sent-at` as fedora-messaging writes it: UTC offset, no fraction. */
export function sentAtHeader(epochSeconds: number): string {
  return new Date(Math.trunc(epochSeconds) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** An outgoing fedmsg envelope as a fedora-messaging message: what goes on the wire, derived only from the envelope. */
export interface OutgoingAmqpMessage {
  readonly routingKey: string;
  readonly body: Buffer;
  readonly options: {
    readonly messageId: string;
    readonly contentType: 'application/json';
    readonly contentEncoding: 'utf-8';
    readonly persistent: true;
    readonly priority: 0;
    readonly headers: Record<string, string | number>;
  };
}

/**
 * The fedora-messaging form of an envelope: the body is `msg`, the ID the envelope's msg_id (kept
 * `<year>-<uuid>`, as the ZMQ→AMQP bridge keeps it), `sent-at` the envelope's time. The schema is
 * `base.message`: releng-o-tron ships no Python schema package, and consumers without one read
 * the base class anyway. Built from the stored envelope alone, so a retried send is identical.
 */
export function amqpMessageFor(envelope: { readonly topic: string; readonly msg_id: string; readonly timestamp: number; readonly msg: unknown }): OutgoingAmqpMessage {
  return {
    routingKey: envelope.topic,
    body: Buffer.from(JSON.stringify(envelope.msg), 'utf8'),
    options: {
      messageId: envelope.msg_id,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      persistent: true,
      priority: 0,
      headers: {
        fedora_messaging_schema: 'base.message',
        fedora_messaging_severity: INFO_SEVERITY,
        'sent-at': sentAtHeader(envelope.timestamp),
        priority: 0,
      },
    },
  };
}

/**
 * A datagrepper row that datanommer stored from fedora-messaging (a bare UUID message ID, not
 * fedmsg's `<year>-<uuid>`), as the delivery it was: so a replay keys it exactly as the live AMQP
 * consumer did, and checks it the same way. Headers datanommer did not keep are filled from the
 * row (its timestamp is the message's sent-at). Null for a fedmsg-era row.
 */
export function archivedAmqpMessage(row: unknown, topic: string): AmqpMessage | null {
  if (typeof row !== 'object' || row === null) return null;
  const { msg_id: id, msg, timestamp, headers } = row as { msg_id?: unknown; msg?: unknown; timestamp?: unknown; headers?: unknown };
  if (typeof id !== 'string' || !UUID_PATTERN.test(id)) return null;
  const kept = typeof headers === 'object' && headers !== null && !Array.isArray(headers) ? (headers as Record<string, unknown>) : {};
  return {
    routingKey: topic,
    body: Buffer.from(JSON.stringify(msg ?? null), 'utf8'),
    properties: {
      messageId: id,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {
        fedora_messaging_schema: 'base.message',
        fedora_messaging_severity: INFO_SEVERITY,
        ...(typeof timestamp === 'number' ? { 'sent-at': sentAtHeader(timestamp) } : {}),
        ...kept,
      },
    },
  };
}
