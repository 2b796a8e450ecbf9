/** `relengotron bus tail` and `bus replay`: looking at the bus and re-driving a window of it. */
import { Client, Connection } from '@temporalio/client';
import { backfill, datagrepperPageCap, type BackfillResult } from '../bus/backfill.js';
import { deadLettersOf, inboxState, listTrouble, markDeadLetterRetried, unpark } from '../bus/inbox.js';
import { oneLine } from '../common/storable-text.js';
import { BusListener } from '../bus/listener.js';
import { listenerSettings } from '../bus/settings.js';
import { openSubscriber } from '../bus/subscriber.js';
import { amqpSettings, connectAmqp } from '../bus/amqp-connection.js';
import { storableHeaders, type AmqpMessage } from '../bus/fedora-messaging.js';
import { randomUUID } from 'node:crypto';
import { usesTransport, type Config } from '../common/config.js';
import { createPool, migrate, type Pool } from '../common/db.js';
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { DURATION_PATTERN, durationToMs } from '../common/duration.js';
import type { Logger } from '../common/logger.js';

/** `1795431234`, an ISO date, or a duration ago (`2h`, `3d`) → epoch seconds. */
export function parseSince(text: string, nowMs = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (DURATION_PATTERN.test(text)) return (nowMs - durationToMs(text)) / 1000;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new Error(`--since: expected epoch seconds, a date (2026-11-23T08:00Z) or a duration ago (2h), got ${JSON.stringify(text)}`);
  return parsed / 1000;
}

export interface TailOptions {
  readonly topic?: string;
  readonly json: boolean;
  /** Stop after this many messages (scripts, tests). */
  readonly count?: number;
  /** Which bus to watch; default the configured bus.transport (`both`: each line says which). */
  readonly transport?: Config['bus']['transport'];
  readonly write: (line: string) => void;
}

/** One message as `bus tail` shows it, whichever transport it came on. */
interface Seen {
  readonly transport: 'fedmsg' | 'amqp';
  readonly topic: string;
  readonly id: string;
  /** ISO time it was sent, as the message says. */
  readonly sent: string;
  readonly bytes: number;
  /** `--json`: the message in its transport's own JSON form (fedmsg: the envelope; AMQP: fedora-messaging's serialized form). */
  readonly json: string;
}

/** A sent time as ISO text; a time no Date can hold (a sender's 1e20) shows as now. */
function timeText(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString();
}

/** fedmsg's SUB socket: every message under `topic` (all when unset) until `stopped`. */
async function watchFedmsg(config: Config, topic: string | undefined, stopped: Promise<void>, see: (seen: Seen) => void): Promise<void> {
  const socket = openSubscriber({ endpoints: config.bus.endpoints, topics: topic ? [topic] : [], maxMessageBytes: config.bus.maxMessageBytes });
  void stopped.then(() => socket.close());
  try {
    for await (const [topicFrame, body] of socket) {
      const text = body?.toString('utf8') ?? '';
      let id = '?';
      let sent = new Date().toISOString();
      let json = text;
      try {
        const envelope = JSON.parse(text) as { msg_id?: unknown; timestamp?: unknown };
        if (typeof envelope.msg_id === 'string') id = envelope.msg_id;
        if (typeof envelope.timestamp === 'number') sent = timeText(envelope.timestamp * 1000);
        // One line per message, whatever whitespace the sender put between tokens.
        json = JSON.stringify(envelope);
      } catch {
        id = '(not JSON)';
      }
      see({ transport: 'fedmsg', topic: topicFrame?.toString('utf8') ?? '', id, sent, bytes: text.length, json });
    }
  } catch {
    // closed
  } finally {
    socket.close();
  }
}

/**
 * fedora-messaging: a queue of its own (a UUID, as Fedora's broker requires; exclusive, so the
 * broker drops it when we go), bound to `topic` and everything under it, or to everything.
 */
async function watchAmqp(config: Config, topic: string | undefined, stopped: Promise<void>, see: (seen: Seen) => void): Promise<void> {
  const settings = amqpSettings(config);
  const model = await connectAmqp(settings, 'bus tail');
  model.on('error', () => undefined);
  try {
    const channel = await model.createChannel();
    const queue = randomUUID();
    await channel.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
    for (const key of topic ? [topic, `${topic}.#`] : ['#']) await channel.bindQueue(queue, settings.exchange, key);
    await channel.consume(
      queue,
      (delivery) => {
        if (!delivery) return;
        const headers = delivery.properties.headers ?? {};
        const sentAt = typeof headers['sent-at'] === 'string' ? Date.parse(headers['sent-at']) : Date.now();
        const id = typeof delivery.properties.messageId === 'string' ? delivery.properties.messageId : '?';
        const body = delivery.content.toString('utf8');
        let parsed: unknown = body;
        try {
          parsed = JSON.parse(body);
        } catch {
          // shown as text
        }
        see({
          transport: 'amqp',
          topic: delivery.fields.routingKey,
          id,
          sent: timeText(sentAt),
          bytes: delivery.content.length,
          json: JSON.stringify({ topic: delivery.fields.routingKey, headers: storableHeaders(headers), id, body: parsed, queue, priority: typeof delivery.properties.priority === 'number' ? delivery.properties.priority : 0 }),
        });
      },
      { noAck: true, exclusive: true },
    );
    await Promise.race([stopped, new Promise<void>((resolve) => model.once('close', () => resolve()))]);
  } finally {
    await model.close().catch(() => undefined);
  }
}

/** Prints live traffic until interrupted or `count` messages were shown. */
export async function tailBus(config: Config, options: TailOptions): Promise<number> {
  const transport = options.transport ?? config.bus.transport;
  let markStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  process.once('SIGINT', markStopped);
  process.once('SIGTERM', markStopped);
  let shown = 0;
  const see = (seen: Seen) => {
    if (options.count !== undefined && shown >= options.count) return;
    // Whatever a sender put in a message, no control character reaches the terminal.
    // Each field on one line: a newline in a topic or an ID cannot forge a line of its own.
    if (options.json) options.write(oneLine(seen.json, Number.MAX_SAFE_INTEGER));
    else {
      const via = transport === 'both' ? `  (${seen.transport})` : '';
      options.write(`${seen.sent.slice(0, 19).replace('T', ' ')}  ${oneLine(seen.topic, 512)}  ${oneLine(seen.id, 200)}  ${seen.bytes} bytes${via}`);
    }
    if (options.count !== undefined && ++shown >= options.count) markStopped();
  };
  const watching: Promise<void>[] = [];
  if (usesTransport(transport, 'fedmsg')) watching.push(watchFedmsg(config, options.topic, stopped, see));
  if (usesTransport(transport, 'amqp')) watching.push(watchAmqp(config, options.topic, stopped, see));
  try {
    await Promise.all(watching);
  } finally {
    markStopped();
    process.removeListener('SIGINT', markStopped);
    process.removeListener('SIGTERM', markStopped);
  }
  return shown;
}

/** A listener that only receives (the running service dispatches), checking exactly as the live one does. */
function receivingListener(config: Config, log: Logger, pool: Pool): BusListener {
  // This client never connects: nothing here starts a run.
  const client = new Client({ connection: Connection.lazy(temporalConnectionOptions(config)) });
  return new BusListener({ pool, client, log, ...listenerSettings(config) });
}

async function withInbox<T>(config: Config, log: Logger, what: string, work: (pool: Pool) => Promise<T>): Promise<T> {
  if (!config.database.url) throw new Error(`DATABASE_URL is not set: ${what} works on the inbox of the running service`);
  const pool = createPool(config.database.url, 2);
  try {
    await migrate(pool, log);
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/**
 * Puts a window of datagrepper's history through the listener's receive path into the inbox; the
 * running listener starts what is new. Signatures, prefixes and bodies are checked as live. Safe to
 * run twice: the inbox knows every msg_id.
 */
export function replayBus(config: Config, log: Logger, window: { start: number; end: number }): Promise<BackfillResult> {
  return withInbox(config, log, 'replay', async (pool) => {
    const listener = receivingListener(config, log, pool);
    return backfill({
      datagrepperUrl: config.services.datagrepper,
      topics: listener.router.backfillTopics(),
      window,
      maxResponseBytes: datagrepperPageCap(config.bus.maxMessageBytes),
      receive: (frames) => listener.receive(frames),
      // Rows datanommer kept from fedora-messaging are trusted as the broker is, only where AMQP is heard.
      ...(usesTransport(config.bus.transport, 'amqp') ? { receiveAmqp: (message: AmqpMessage) => listener.receiveAmqp(message) } : {}),
      unreadable: (topic, reason) => listener.refuseUnread(topic, reason),
    });
  });
}

/** `bus parked`: inbox rows whose run could not start, and dead letters, newest first. */
export function busTrouble(config: Config, log: Logger): Promise<Awaited<ReturnType<typeof listTrouble>>> {
  return withInbox(config, log, 'bus parked', (pool) => listTrouble(pool));
}

/** `bus parked` for a person: one block per row, the reason first. */
export function describeTrouble(trouble: Awaited<ReturnType<typeof listTrouble>>): string {
  const lines: string[] = [];
  lines.push(`parked inbox rows: ${trouble.parked.length}`);
  for (const p of trouble.parked) lines.push(`  ${oneLine(p.msgId)}  ${oneLine(p.topic)}  parked ${p.parkedAt} after ${p.attempts} attempts`, `    ${oneLine(p.reason ?? '')}`);
  lines.push(`dead letters: ${trouble.deadLetters.length}`);
  for (const d of trouble.deadLetters) {
    lines.push(`  #${d.id}  ${oneLine(d.msgId ?? '(no msg_id)')}  ${oneLine(d.topic ?? '(no topic)')}  ${d.receivedAt}  ${d.bytes} bytes`, `    ${oneLine(d.reason)}`, `    ${oneLine(d.raw, 300)}`);
  }
  lines.push('', 'relengotron bus retry <msg_id or #id> re-drives one after the cause is fixed.');
  return `${lines.join('\n')}\n`;
}

/**
 * `bus retry <msg_id | dead letter id>`: a parked row goes back in line; a dead letter goes
 * through the receive path again, under the current configuration and code. Says what became of
 * it; running it again changes nothing.
 */
export function retryMessage(config: Config, log: Logger, given: string): Promise<string> {
  // `bus parked` shows dead letters as #<id>.
  const id = given.replace(/^#/, '');
  return withInbox(config, log, 'bus retry', async (pool) => {
    const row = await inboxState(pool, id);
    if (row?.state === 'parked') {
      await unpark(pool, id);
      return `${id}: back in the inbox; the bus listener starts its run (it was parked: ${row.lastError ?? 'no reason kept'})`;
    }
    if (row) return `${id}: already in the inbox, ${row.state}${row.workflowId ? ` (${row.workflowId})` : ''}${row.lastError && row.state !== 'started' ? `: ${row.lastError}` : ''}`;
    const letters = await deadLettersOf(pool, id);
    if (letters.length === 0) return `${id}: no parked inbox row and no dead letter by that msg_id or id`;
    const listener = receivingListener(config, log, pool);
    const lines: string[] = [];
    for (const letter of letters) {
      // Marked first, so that refusing it again files a new dead letter beside this one.
      await markDeadLetterRetried(pool, letter.id, 'retrying');
      let outcome: string;
      try {
        outcome = await listener.receiveRaw(letter.message);
      } catch (err) {
        await pool.query('UPDATE bus_dead_letters SET retried_at = NULL, retry_outcome = NULL WHERE id = $1', [letter.id]);
        throw err;
      }
      const said =
        outcome === 'stored' ? 'stored in the inbox; the bus listener starts its run'
        : outcome === 'duplicate' ? 'already in the inbox (a duplicate): nothing to do'
        : outcome === 'not-routed' ? 'accepted, but no route acts on it under the current routing table'
        : `refused again: ${listener.lastRefusal ?? 'see bus parked'}`;
      await markDeadLetterRetried(pool, letter.id, said);
      lines.push(`dead letter ${letter.id}: ${said}`);
    }
    return lines.join('\n');
  });
}
