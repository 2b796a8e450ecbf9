/** `relengotron bus tail` and `bus replay`: looking at the bus and re-driving a window of it. */
import { Client, Connection } from '@temporalio/client';
import { backfill, datagrepperPageCap, type BackfillResult } from '../bus/backfill.js';
import { deadLettersOf, inboxState, listTrouble, markDeadLetterRetried, unpark } from '../bus/inbox.js';
import { oneLine, storableText } from '../common/storable-text.js';
import { BusListener } from '../bus/listener.js';
import { listenerSettings } from '../bus/settings.js';
import { openSubscriber } from '../bus/subscriber.js';
import type { Config } from '../common/config.js';
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
  readonly write: (line: string) => void;
}

/** Prints live traffic until interrupted or `count` messages were shown. */
export async function tailBus(config: Config, options: TailOptions): Promise<number> {
  const socket = openSubscriber({ endpoints: config.bus.endpoints, topics: options.topic ? [options.topic] : [], maxMessageBytes: config.bus.maxMessageBytes });
  const stop = () => socket.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let shown = 0;
  try {
    for await (const [topic, body] of socket) {
      const text = body?.toString('utf8') ?? '';
      // Whatever a sender put in a message, no control character reaches the terminal.
      if (options.json) options.write(storableText(text, Number.MAX_SAFE_INTEGER));
      else {
        let id = '?';
        let when = new Date().toISOString();
        try {
          const envelope = JSON.parse(text) as { msg_id?: string; timestamp?: number };
          id = envelope.msg_id ?? id;
          if (typeof envelope.timestamp === 'number') when = new Date(envelope.timestamp * 1000).toISOString();
        } catch {
          id = '(not JSON)';
        }
        options.write(storableText(`${when.slice(0, 19).replace('T', ' ')}  ${topic?.toString('utf8')}  ${id}  ${text.length} bytes`, 2048));
      }
      if (options.count !== undefined && ++shown >= options.count) break;
    }
  } catch {
    // closed by a signal
  } finally {
    socket.close();
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
