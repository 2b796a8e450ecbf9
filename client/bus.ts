/** `relengotron bus tail` and `bus replay`: looking at the bus and re-driving a window of it. */
import { Client, Connection } from '@temporalio/client';
import { backfill, type BackfillResult } from '../bus/backfill.js';
import { BusListener } from '../bus/listener.js';
import { routerFromConfig } from '../bus/router.js';
import { openSubscriber } from '../bus/subscriber.js';
import type { Config } from '../common/config.js';
import { createPool, migrate } from '../common/db.js';
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
  const socket = openSubscriber({ endpoints: config.bus.endpoints, topics: options.topic ? [options.topic] : [] });
  const stop = () => socket.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let shown = 0;
  try {
    for await (const [topic, body] of socket) {
      const text = body?.toString('utf8') ?? '';
      if (options.json) options.write(text);
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
        options.write(`${when.slice(0, 19).replace('T', ' ')}  ${topic?.toString('utf8')}  ${id}  ${text.length} bytes`);
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

/**
 * Puts a window of datagrepper's history through the listener's receive path into the inbox; the
 * running listener starts what is new. Safe to run twice: the inbox knows every msg_id.
 */
export async function replayBus(config: Config, log: Logger, window: { start: number; end: number }): Promise<BackfillResult> {
  if (!config.database.url) throw new Error('DATABASE_URL is not set: replay writes to the inbox of the running service');
  const pool = createPool(config.database.url, 2);
  // Only receiving happens here; the running bus listener dispatches. This client never connects.
  const client = new Client({ connection: Connection.lazy({ address: config.temporal.address }) });
  try {
    await migrate(pool, log);
    const router = routerFromConfig(config);
    const listener = new BusListener({ pool, client, log, router, maxMessageBytes: config.bus.maxMessageBytes });
    return await backfill({
      datagrepperUrl: config.services.datagrepper,
      topics: router.backfillTopics(config.bus.backfill.topicPrefixes),
      window,
      receive: (frames) => listener.receive(frames),
    });
  } finally {
    await pool.end();
  }
}
