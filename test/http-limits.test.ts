/**
 * Every body read from outside has a cap: a server that declares or sends more than it may (a
 * huge JSON reply, an endless stream, an XML-RPC answer, a datagrepper page, a gzip that unpacks
 * to gigabytes, a package larger than its metadata said) is refused at the cap with a clear,
 * final error, and the process never holds more than that in memory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, type LocalServer } from './helpers/local-server.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { backfill } from '../bus/backfill.js';
import { getJson, HTTP_RESPONSE_TOO_LARGE } from '../activities/http.js';
import { KojiClient } from '../activities/koji.js';
import { createYumRepoActivities, REPO_METADATA_INVALID } from '../activities/yum-repo.js';

const CAP = 1024 * 1024;
let server: LocalServer;
let base = '';
const endlessClosed: boolean[] = [];

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
const rpm = Buffer.alloc(300_000, 7);
const primary = (declared: number) =>
  Buffer.from(`<?xml version="1.0"?><metadata packages="1"><package type="rpm"><name>big</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>` +
    `<checksum type="sha256" pkgid="YES">${sha256(rpm)}</checksum><location href="Packages/b/big-1-1.noarch.rpm"/><size package="${declared}"/></package></metadata>`);
const repomd = (file: string, content: Buffer) =>
  `<?xml version="1.0"?><repomd><data type="primary"><checksum type="sha256">${sha256(content)}</checksum><location href="repodata/${file}"/></data></repomd>`;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  if (path === '/declared') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(100 * CAP) });
    res.end('{}');
  } else if (path === '/endless') {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (res.write(chunk));
    };
    res.on('drain', pump);
    res.on('close', () => endlessClosed.push(true));
    pump();
  } else if (path === '/kojihub') {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<?xml version="1.0"?><methodResponse><params><param><value><string>${'x'.repeat(2 * CAP)}</string></value></param></params></methodResponse>`);
  } else if (path.startsWith('/datagrepper/raw')) {
    // A datagrepper holding three messages, the second far over the cap, paged as asked.
    const query = new URL(path, 'http://x').searchParams;
    const rows = Number(query.get('rows_per_page'));
    const page = Number(query.get('page'));
    const all = [1, 2, 3].map((n) => ({ topic: 'org.fedoraproject.prod.x', msg_id: `2026-00000000-0000-0000-0000-00000000000${n}`, timestamp: 1, msg: n === 2 ? { big: 'y'.repeat(2 * CAP) } : {} }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ pages: Math.ceil(all.length / rows), total: all.length, raw_messages: all.slice((page - 1) * rows, page * rows) }));
  } else if (path === '/bomb/repos-dist/f29-build/1/noarch/repodata/repomd.xml') {
    res.end(repomd('primary.xml.gz', bomb));
  } else if (path === '/bomb/repos-dist/f29-build/1/noarch/repodata/primary.xml.gz') {
    res.end(bomb);
  } else if (path === '/liar/repos-dist/f29-build/1/noarch/repodata/repomd.xml') {
    res.end(repomd('primary.xml', primary(1000)));
  } else if (path === '/liar/repos-dist/f29-build/1/noarch/repodata/primary.xml') {
    res.end(primary(1000));
  } else if (path === '/liar/repos-dist/f29-build/1/noarch/Packages/b/big-1-1.noarch.rpm') {
    res.end(rpm);
  } else {
    res.writeHead(404).end();
  }
}

function finalFailure(type: string, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, message);
    return true;
  };
}

describe('HTTP bodies from outside are capped', () => {
  before(async () => {
    server = await listenLocally(createServer(serve));
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('refuses a reply that declares more than the cap, without reading it', async () => {
    await assert.rejects(getJson(`${base}/declared`, { timeoutMs: 5000, maxBytes: CAP }), finalFailure(HTTP_RESPONSE_TOO_LARGE, /declares 104857600 bytes, over the 1048576-byte cap/));
  });

  it('stops reading an endless reply at the cap and closes the connection', async () => {
    const before = process.memoryUsage().rss;
    await assert.rejects(getJson(`${base}/endless`, { timeoutMs: 5000, maxBytes: CAP }), finalFailure(HTTP_RESPONSE_TOO_LARGE, /passed the 1048576-byte cap/));
    for (let i = 0; i < 50 && endlessClosed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(endlessClosed, [true], 'the server saw the connection go');
    assert.ok(process.memoryUsage().rss - before < 64 * CAP, 'memory stayed near the cap');
  });

  it('caps Koji XML-RPC answers', async () => {
    await assert.rejects(new KojiClient(`${base}/kojihub`, { timeoutMs: 5000, maxBytes: CAP }).call('getLoggedInUser'), finalFailure(HTTP_RESPONSE_TOO_LARGE, /^Koji getLoggedInUser: the response/));
  });

  it('caps datagrepper pages: smaller pages, then a message too large alone is passed over and reported', async () => {
    const received: string[] = [];
    const unreadable: string[] = [];
    const result = await backfill({
      datagrepperUrl: `${base}/datagrepper`, topics: ['org.fedoraproject.prod.x'], window: { start: 0, end: 1 }, maxResponseBytes: CAP,
      receive: (frames) => (received.push((JSON.parse(frames[1]!.toString()) as { msg_id: string }).msg_id), Promise.resolve('stored')),
      unreadable: (_topic, reason) => (unreadable.push(reason), Promise.resolve()),
    });
    // Three messages, the second 2 MiB: pages of 100, 50, 25, 5 are all over the cap; pages of one get past it.
    assert.deepEqual(received, ['2026-00000000-0000-0000-0000-000000000001', '2026-00000000-0000-0000-0000-000000000003']);
    assert.equal(unreadable.length, 1);
    assert.match(unreadable[0]!, /^datagrepper message 2 of org\.fedoraproject\.prod\.x in \[0, 1\] is larger than 1048576 bytes; passed over$/);
    assert.equal(result.fetched, 2);
  });

  it('refuses primary metadata that unpacks past the cap (a gzip bomb)', async () => {
    const repo = createYumRepoActivities({ kojiTopUrl: `${base}/bomb`, workDir: mkdtempSync(join(tmpdir(), 'relengotron-bomb-')), http: { timeoutMs: 5000, maxBytes: CAP } });
    await assert.rejects(new MockActivityEnvironment().run(() => repo.fetchDistRepo({ tag: 'f29-build', repoId: 1 })), finalFailure(REPO_METADATA_INVALID, /primary\.xml\.gz: unpacks to more than 1048576 bytes/));
  });

  it('stops a package download as soon as it passes the size its metadata declares', async () => {
    const repo = createYumRepoActivities({ kojiTopUrl: `${base}/liar`, workDir: mkdtempSync(join(tmpdir(), 'relengotron-liar-')), http: { timeoutMs: 5000, maxBytes: 64 * CAP } });
    await assert.rejects(new MockActivityEnvironment().run(() => repo.fetchDistRepo({ tag: 'f29-build', repoId: 1 })), finalFailure(HTTP_RESPONSE_TOO_LARGE, /big-1-1\.noarch\.rpm: the response (declares 300000 bytes, over|passed) the 1000-byte cap/));
  });
});
