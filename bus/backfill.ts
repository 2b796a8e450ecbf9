/**
 * Catching up from datagrepper after downtime (../shared/docs/messages.md §c.2, c.3): one
 * paged, ascending query per topic over a closed window, each message put back in the form it
 * was published in and handed to the same receive path as live traffic, where the inbox drops
 * what was already seen.
 */
import { request } from 'undici';
import { undoDatagrepperArtefacts } from '../common/fedmsg-crypto.js';
import { readCapped } from '../common/http-body.js';

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

/** Splits a `/raw` page into each message's own JSON text, so number text survives untouched. */
export function rawMessageTexts(page: string): string[] {
  const key = page.indexOf('"raw_messages"');
  if (key < 0) throw new Error('not a datagrepper /raw response: no raw_messages');
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let from = -1;
  for (let i = page.indexOf('[', key) + 1; i < page.length; i++) {
    const ch = page[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) from = i;
    } else if (ch === '}') {
      if (--depth === 0) out.push(page.slice(from, i + 1));
    } else if (ch === ']' && depth === 0) break;
  }
  return out;
}

export async function backfill(options: BackfillOptions): Promise<BackfillResult> {
  let fetched = 0;
  let stored = 0;
  let pagesRead = 0;
  for (const topic of options.topics) {
    for (let page = 1, pages = 1; page <= pages; page++) {
      const query = new URLSearchParams({
        topic,
        start: String(options.window.start),
        end: String(options.window.end),
        order: 'asc',
        rows_per_page: String(ROWS_PER_PAGE),
        page: String(page),
      });
      const url = `${options.datagrepperUrl}/raw?${query.toString()}`;
      const response = await request(url, { headersTimeout: options.timeoutMs ?? 60_000, bodyTimeout: options.timeoutMs ?? 60_000 });
      const text = (await readCapped(response, options.maxResponseBytes, `GET ${url}`)).toString('utf8');
      if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
      const meta = JSON.parse(text) as { pages?: unknown };
      pages = typeof meta.pages === 'number' ? meta.pages : 1;
      pagesRead++;
      for (const message of rawMessageTexts(text)) {
        // A stored message that is not JSON is put through as it is, to be dead-lettered with the reason.
        let envelope: string;
        try {
          envelope = undoDatagrepperArtefacts(message);
        } catch {
          envelope = message;
        }
        const outcome = await options.receive([Buffer.from(topic), Buffer.from(envelope)]);
        fetched++;
        if (outcome === 'stored') stored++;
      }
    }
  }
  return { fetched, stored, pages: pagesRead };
}
