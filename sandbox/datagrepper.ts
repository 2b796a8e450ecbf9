/**
 * datagrepper's `/raw` and `/id` over a store of envelopes (datanommer's job), seeded with a real
 * `/raw` capture and fed by the sandbox bus. Time windows are inclusive at both ends and ordering is
 * by timestamp only, as upstream. Docs: ../shared/docs/messages.md §c.3.
 */
import type { ServerResponse } from 'node:http';
import { HttpError, sendJson, type Request } from './http.js';
import { pageOf } from './paging.js';

export type StoredMessage = Record<string, unknown> & { msg_id: string; topic: string; timestamp: number };

function parseTime(raw: string, name: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(raw) ? raw : `${raw}Z`);
  if (Number.isNaN(parsed)) throw new HttpError(400, `${name}: not a timestamp or date: ${raw}`);
  return parsed / 1000;
}

export class Datagrepper {
  private readonly messages: StoredMessage[] = [];
  private readonly ids = new Set<string>();

  /** Stores an envelope as datanommer would (float timestamp, source_name/version, empty headers). */
  add(envelope: Record<string, unknown> & { msg_id: string; topic: string; timestamp: number }): void {
    if (this.ids.has(envelope.msg_id)) return;
    this.ids.add(envelope.msg_id);
    this.messages.push({ headers: {}, source_name: 'datanommer', source_version: '0.9.0', ...envelope, timestamp: Number(envelope.timestamp) });
  }

  get size(): number {
    return this.messages.length;
  }

  readonly service = (req: Request, res: ServerResponse): void => {
    const path = req.path.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET') throw new HttpError(405, 'datagrepper answers GET');
    if (path === '/id') {
      const id = req.query.get('id');
      const found = this.messages.find((m) => m.msg_id === id);
      if (!found) throw new HttpError(404, `message ${id} not found`);
      return sendJson(res, 200, found);
    }
    if (path !== '/raw') throw new HttpError(404, `no such endpoint ${path}`);
    const q = req.query;
    const now = Date.now() / 1000;
    const startRaw = q.get('start');
    const endRaw = q.get('end');
    const delta = q.get('delta') !== null ? Number(q.get('delta')) : null;
    if (delta !== null && Number.isNaN(delta)) throw new HttpError(400, 'delta must be a number of seconds');
    let start: number | null = startRaw ? parseTime(startRaw, 'start') : null;
    let end: number | null = endRaw ? parseTime(endRaw, 'end') : null;
    if (start !== null && end === null) end = now;
    if (start === null && delta !== null) {
      end ??= now;
      start = end - delta;
    }
    const topics = q.getAll('topic');
    const notTopics = q.getAll('not_topic');
    const categories = q.getAll('category');
    const order = q.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new HttpError(400, 'order must be asc or desc');
    const matching = this.messages
      .filter((m) => start === null || m.timestamp >= start)
      .filter((m) => end === null || m.timestamp <= end)
      .filter((m) => topics.length === 0 || topics.includes(m.topic))
      .filter((m) => !notTopics.includes(m.topic))
      .filter((m) => categories.length === 0 || categories.includes(m.topic.split('.')[3] ?? ''))
      .sort((a, b) => (order === 'asc' ? a.timestamp - b.timestamp : b.timestamp - a.timestamp));
    const page = pageOf(matching, q, 'rows_per_page', 25, 100);
    sendJson(res, 200, {
      arguments: {
        start, end, delta, topics, not_topics: notTopics, categories, order, page: page.page,
        rows_per_page: page.rowsPerPage, users: q.getAll('user'), packages: q.getAll('package'), contains: q.getAll('contains'),
      },
      count: page.items.length,
      pages: page.pages,
      total: page.total,
      raw_messages: page.items,
    });
  };
}
