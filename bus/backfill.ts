/**
 * Catching up from datagrepper after downtime (../shared/docs/messages.md §c.2, c.3): one
 * paged, ascending query per topic over a closed window, each message put back in the form it
 * was published in and handed to the same receive path as live traffic, where the inbox drops
 * what was already seen.
 */
import { request } from 'undici';
import { undoDatagrepperArtefacts } from '../common/fedmsg-crypto.js';
import { readCapped, ResponseTooLargeError } from '../common/http-body.js';
import { archivedAmqpMessage, type AmqpMessage } from './fedora-messaging.js';

export interface BackfillWindow {
  /** Epoch seconds, inclusive. */
  readonly start: number;
  readonly end: number;
}

export interface BackfillOptions {
  readonly datagrepperUrl: string;
  readonly topics: readonly string[];
  readonly window: BackfillWindow;
  readonly receive: (frames: Buffer[]) => Promise<string>;
  /**
   * A message datanommer kept from fedora-messaging goes through the AMQP path (same key as live,
   * trusted as the broker is). Unset where AMQP is not heard: such a row then goes through the
   * fedmsg path, signatures and all, and is refused there.
   */
  readonly receiveAmqp?: (message: AmqpMessage) => Promise<string>;
  /** A message too large to read even alone: recorded (dead-lettered), so the catch-up goes on. */
  readonly unreadable: (topic: string, reason: string) => Promise<void>;
  readonly timeoutMs?: number;
  /** The largest page read (datagrepper pages hold up to 100 messages). */
  readonly maxResponseBytes: number;
}

export interface BackfillResult {
  readonly fetched: number;
  readonly stored: number;
  readonly pages: number;
}

const ROWS_PER_PAGE = 100;

/** A page holds ROWS_PER_PAGE messages of at most maxMessageBytes each, plus its wrapping. */
export const datagrepperPageCap = (maxMessageBytes: number): number => maxMessageBytes * ROWS_PER_PAGE + 1024 * 1024;

/**
 * Splits a `/raw` page into each message's own JSON text, so number text survives untouched, and
 * the rest of the page (its `pages`, `total`...) with the messages taken out: only that small rest
 * is parsed as a whole, so a stored message nested to any depth cannot break reading the page.
 */
export function splitRawPage(page: string): { messages: string[]; rest: string } {
  const key = page.indexOf('"raw_messages"');
  if (key < 0) throw new Error('not a datagrepper /raw response: no raw_messages');
  const open = page.indexOf('[', key);
  const messages: string[] = [];
  let depth = 0;
  let inString = false;
  let from = -1;
  let close = page.length;
  for (let i = open + 1; i < page.length; i++) {
    const ch = page[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') {
      if (depth++ === 0) from = i;
    } else if (ch === '}' || ch === ']') {
      if (depth === 0) {
        close = i;
        break;
      }
      if (--depth === 0) messages.push(page.slice(from, i + 1));
    }
  }
  return { messages, rest: `${page.slice(0, open)}[]${page.slice(close + 1)}` };
}

/** The messages of a `/raw` page as JSON texts. */
export const rawMessageTexts = (page: string): string[] => splitRawPage(page).messages;

/** Page sizes to fall back through when a page is over the cap: each divides the ones before it. */
const PAGE_SIZES = [ROWS_PER_PAGE, 50, 25, 5, 1];

export async function backfill(options: BackfillOptions): Promise<BackfillResult> {
  let fetched = 0;
  let stored = 0;
  let pagesRead = 0;
  for (const topic of options.topics) {
    let size = 0; // index into PAGE_SIZES
    // Messages of this topic's window read so far; always a multiple of the current page size.
    for (let offset = 0, total = Number.POSITIVE_INFINITY; offset < total; ) {
      const rows = PAGE_SIZES[size]!;
      const query = new URLSearchParams({
        topic,
        start: String(options.window.start),
        end: String(options.window.end),
        order: 'asc',
        rows_per_page: String(rows),
        page: String(offset / rows + 1),
      });
      const url = `${options.datagrepperUrl}/raw?${query.toString()}`;
      const response = await request(url, { headersTimeout: options.timeoutMs ?? 60_000, bodyTimeout: options.timeoutMs ?? 60_000 });
      let text: string;
      try {
        text = (await readCapped(response, options.maxResponseBytes, `GET ${url}`)).toString('utf8');
      } catch (err) {
        if (!(err instanceof ResponseTooLargeError)) throw err;
        if (size < PAGE_SIZES.length - 1) {
          size++; // the same messages, fewer at a time
          continue;
        }
        // One message alone is over the cap: it cannot be read, so it is reported and passed over.
        await options.unreadable(topic, `datagrepper message ${offset + 1} of ${topic} in [${options.window.start}, ${options.window.end}] is larger than ${options.maxResponseBytes} bytes; passed over`);
        offset += 1;
        continue;
      }
      if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
      const { messages, rest } = splitRawPage(text);
      const meta = JSON.parse(rest) as { pages?: unknown; total?: unknown };
      const pages = typeof meta.pages === 'number' ? meta.pages : 1;
      total = typeof meta.total === 'number' ? meta.total : Math.min(total, pages * rows);
      pagesRead++;
      for (const message of messages) {
        // A stored message that is not JSON is put through as it is, to be dead-lettered with the reason.
        let envelope: string;
        try {
          envelope = undoDatagrepperArtefacts(message);
        } catch {
          envelope = message;
        }
        let archived: AmqpMessage | null = null;
        if (options.receiveAmqp) {
          try {
            archived = archivedAmqpMessage(JSON.parse(envelope), topic);
          } catch {
            // not JSON, or nested past what JSON.parse takes: the fedmsg path refuses it with the reason
          }
        }
        const outcome = archived && options.receiveAmqp ? await options.receiveAmqp(archived) : await options.receive([Buffer.from(topic), Buffer.from(envelope)]);
        fetched++;
        if (outcome === 'stored') stored++;
      }
      if (messages.length < rows) break; // the last page
      offset += rows;
    }
  }
  return { fetched, stored, pages: pagesRead };
}
