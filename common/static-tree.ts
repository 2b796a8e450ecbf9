/**
 * Directory trees served read-only as static files from one or more roots, with byte ranges
 * (resumable downloads) and Apache-style directory indexes: kojipkgs' /compose and Koji's
 * topdir in the sandbox, and push composes from the dashboard.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';
import { escapeHtml, HttpError, sendText } from './http-server.js';

/** What serving a file needs to know of a request. */
export interface StaticRequest {
  readonly method: string;
  /** Below the tree's mount point, starting with `/`. */
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  /** The mount point's URL, for redirects. */
  readonly baseUrl: string;
}


export class StaticTree {
  /**
   * A slow link, for the sandbox's tests: file bodies are sent at most this many bytes a second
   * (null: as fast as they go). Downloads that must survive a crash need time to be interrupted.
   */
  bytesPerSecond: number | null = null;

  constructor(private readonly roots: readonly string[]) {}

  /** Finds a request path in the first root that has it; never outside a root. */
  private resolve(path: string): string | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw new HttpError(400, 'malformed percent-encoding in the path');
    }
    if (decoded.split(/[/\\]/).includes('..') || decoded.includes('\0')) throw new HttpError(400, 'path escapes the compose root');
    const relative = normalize(decoded).replace(/^([/\\])+/, '');
    for (const root of this.roots) {
      const candidate = join(root, relative);
      if (existsSync(candidate)) return candidate;
    }
    return undefined;
  }

  readonly service = async (req: StaticRequest, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'read only');
    const file = this.resolve(req.path);
    if (!file) throw new HttpError(404, 'Not Found');
    const stat = statSync(file);
    if (stat.isDirectory()) {
      if (!req.path.endsWith('/')) {
        res.writeHead(301, { location: `${req.baseUrl}${req.path}/` });
        res.end();
        return;
      }
      const names = new Set<string>();
      for (const root of this.roots) {
        const dir = join(root, normalize(decodeURIComponent(req.path)));
        if (existsSync(dir) && statSync(dir).isDirectory()) {
          for (const entry of readdirSync(dir, { withFileTypes: true })) {
            if (entry.name !== 'DIR_LISTING.txt') names.add(entry.isDirectory() ? `${entry.name}/` : entry.name);
          }
        }
      }
      const rows = [...names].sort().map((n) => `<tr><td><a href="${encodeURI(n)}">${escapeHtml(n)}</a></td></tr>`).join('\n');
      sendText(res, 200, `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html><head><title>Index of ${escapeHtml(req.path)}</title></head><body><h1>Index of ${escapeHtml(req.path)}</h1><table>\n${rows}\n</table></body></html>\n`, 'text/html;charset=UTF-8');
      return;
    }
    const type = file.endsWith('.json') ? 'application/json' : file.endsWith('STATUS') || file.endsWith('COMPOSE_ID') || file.endsWith('CHECKSUM') ? 'text/plain' : 'application/octet-stream';
    const headers: Record<string, string | number> = {
      'content-type': type,
      'accept-ranges': 'bytes',
      'last-modified': stat.mtime.toUTCString(),
      etag: `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`,
    };
    const range = req.headers.range;
    let start = 0;
    let end = stat.size - 1;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) throw new HttpError(416, `unsupported range ${range}`);
      if (m[1] === '') start = Math.max(0, stat.size - Number(m[2]));
      else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(end, Number(m[2]));
      }
      if (start >= stat.size || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${stat.size}` });
        res.end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${stat.size}`;
    }
    headers['content-length'] = stat.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || stat.size === 0) {
      res.end();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const rate = this.bytesPerSecond;
      // 64 KiB chunks paced to the rate: a throttled body still flows, just slowly.
      const stream = createReadStream(file, { start, end, ...(rate ? { highWaterMark: 64 * 1024 } : {}) });
      stream.on('error', reject);
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      const paced = rate
        ? stream.pipe(
            new Transform({
              transform(chunk: Buffer, _enc, done) {
                setTimeout(() => done(null, chunk), Math.ceil((chunk.length / rate) * 1000));
              },
            }),
          )
        : stream;
      paced.pipe(res).on('finish', resolve);
    });
  };
}
