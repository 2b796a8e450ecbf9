/**
 * The compose-testing dashboard, Autocloud's pages kept: composes with their pass/fail counts,
 * jobs filterable by status, arch, family, type and provider, and each job's output with a link
 * per line. Plain HTML from the server (readable with curl, no scripts); JSON under /api.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from '../common/db.js';
import { escapeHtml as h, HttpError, intParam, sendJson, sendText } from '../common/http-server.js';
import type { Logger } from '../common/logger.js';
import { StaticTree } from '../common/static-tree.js';
import { getCompose, getJob, JOB_FILTERS, jobFilterOptions, listComposes, listJobs, transcript, type ComposeRow, type JobFilters, type JobRow } from './results.js';

export interface DashboardOptions {
  readonly pool: Pool;
  /** host:port */
  readonly listen: string;
  /** The Temporal Web UI's namespace page, to link each run (e.g. http://127.0.0.1:8233/namespaces/default). */
  readonly temporalUi?: string;
  /** Push composes (push.workDir/composes), served under /pushes/ for the image hosts to fetch. */
  readonly pushComposeRoot?: string;
  readonly log?: Logger;
}

/** Where the dashboard serves push composes; `push.composeUrl` defaults to it. */
export const PUSH_COMPOSES_PATH = '/pushes';

export interface Dashboard {
  readonly url: string;
  stop(): Promise<void>;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;margin:1rem 0}
td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
.success,.complete{color:#17702c}.failed,.error{color:#b00020}.aborted{color:#8a5a00}.running,.queued{color:#0b57d0}
nav a{margin-right:1rem}pre{margin:0;white-space:pre-wrap}.output td{border:0;padding:0 .6rem;font-family:monospace}
.output td.n a{color:#888;text-decoration:none}.output tr:target{background:#fff3b0}form select{margin-right:.5rem}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${h(title)} · releng-o-tron</title><style>${STYLE}</style></head>
<body><nav><a href="/composes">Composes</a><a href="/jobs">Jobs</a><a href="/about">About</a></nav><h1>${h(title)}</h1>\n${body}\n</body></html>\n`;
}

const when = (iso: string | null): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const took = (from: string | null, to: string | null): string => (from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(0)} s` : '');
const status = (value: string): string => `<span class="${h(value)}">${h(value)}</span>`;

function runLink(temporalUi: string | undefined, workflowId: string): string {
  return temporalUi ? ` <a href="${h(`${temporalUi}/workflows/${encodeURIComponent(workflowId)}`)}">run</a>` : '';
}

function composesTable(rows: readonly ComposeRow[], temporalUi?: string): string {
  const body = rows
    .map(
      (c) => `<tr><td><a href="/composes/${encodeURIComponent(c.composeId)}">${h(c.composeId)}</a></td><td>${status(c.status)}</td>
<td>${h(c.release ?? '')}</td><td>✓ ${c.passed} ✗ ${c.failed}${c.errored ? ` ⚠ ${c.errored}` : ''}${c.aborted ? ` ⊘ ${c.aborted}` : ''} of ${c.jobs}</td>
<td>${h(when(c.queuedAt))}</td><td>${h(took(c.queuedAt, c.finishedAt))}</td><td>${h(c.supersededBy ? `superseded by ${c.supersededBy}` : (c.reason ?? ''))}</td>
<td><a href="${h(c.location)}">tree</a>${runLink(temporalUi, c.workflowId)}</td></tr>`,
    )
    .join('\n');
  return `<table><tr><th>Compose</th><th>Status</th><th>Release</th><th>Results</th><th>Queued</th><th>Took</th><th>Note</th><th>Links</th></tr>\n${body}</table>`;
}

function jobsTable(rows: readonly JobRow[], temporalUi?: string): string {
  const body = rows
    .map(
      (j) => `<tr><td>${j.jobId}</td><td><a href="/composes/${encodeURIComponent(j.composeId)}">${h(j.composeId)}</a></td><td>${h(j.imageName)}</td>
<td>${h(j.family)}</td><td>${h(j.arch)}</td><td>${h(j.imageType)}</td><td>${h(j.provider)}</td><td>${status(j.status)}</td>
<td>${h(j.host ?? '')}${j.attempts > 1 ? ` (attempt ${j.attempts})` : ''}</td><td>${h(when(j.queuedAt))}</td><td>${h(took(j.startedAt, j.finishedAt))}</td>
<td><a href="/jobs/${j.jobId}/output">output</a>${runLink(temporalUi, j.workflowId)}</td></tr>`,
    )
    .join('\n');
  return `<table><tr><th>Job</th><th>Compose</th><th>Image</th><th>Family</th><th>Arch</th><th>Type</th><th>Provider</th><th>Status</th><th>Host</th><th>Queued</th><th>Took</th><th></th></tr>\n${body}</table>`;
}

function filtersOf(query: URLSearchParams): JobFilters {
  const filters: JobFilters = {};
  for (const key of [...JOB_FILTERS, 'compose'] as const) {
    const value = query.get(key);
    if (value) filters[key] = value;
  }
  return filters;
}

export function dashboardHandler(options: DashboardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { pool, temporalUi } = options;
  const pushTrees = options.pushComposeRoot ? new StaticTree([options.pushComposeRoot]) : null;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (pushTrees && (url.pathname === PUSH_COMPOSES_PATH || url.pathname.startsWith(`${PUSH_COMPOSES_PATH}/`))) {
      const host = req.headers.host ?? 'localhost';
      return pushTrees.service({ method: req.method ?? 'GET', path: url.pathname.slice(PUSH_COMPOSES_PATH.length) || '/', headers: req.headers, baseUrl: `http://${host}${PUSH_COMPOSES_PATH}` }, res);
    }
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, '') || '/';
    const query = url.searchParams;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'read only');
    let match: RegExpExecArray | null;
    if (path === '/') {
      res.writeHead(302, { location: '/composes' });
      res.end();
    } else if (path === '/composes' || path === '/api/composes') {
      const limit = intParam(query, 'limit', 20, 500);
      const before = query.get('before') ? intParam(query, 'before', 0) : undefined;
      const rows = await listComposes(pool, { before, limit });
      if (path.startsWith('/api/')) return sendJson(res, 200, rows);
      const older = rows.length === limit ? `<a href="/composes?before=${rows.at(-1)!.id}&amp;limit=${limit}">older</a>` : '';
      sendText(res, 200, page('Composes', `${composesTable(rows, temporalUi)}${older}`), 'text/html; charset=utf-8');
    } else if ((match = /^\/(api\/)?composes\/([^/]+)$/.exec(path))) {
      const compose = await getCompose(pool, match[2]!);
      if (!compose) throw new HttpError(404, `no compose test for ${match[2]}`);
      const jobs = await listJobs(pool, { ...filtersOf(query), compose: compose.composeId }, { limit: 500 });
      if (match[1]) return sendJson(res, 200, { compose, jobs });
      sendText(res, 200, page(compose.composeId, `${composesTable([compose], temporalUi)}<h2>Jobs</h2>${jobsTable(jobs, temporalUi)}`), 'text/html; charset=utf-8');
    } else if (path === '/jobs' || path === '/api/jobs') {
      const filters = filtersOf(query);
      const limit = intParam(query, 'limit', 50, 500);
      const before = query.get('before') ? intParam(query, 'before', 0) : undefined;
      const jobs = await listJobs(pool, filters, { before, limit });
      if (path.startsWith('/api/')) return sendJson(res, 200, jobs);
      const choices = await jobFilterOptions(pool);
      const selects = JOB_FILTERS.map(
        (key) =>
          `<label>${h(key.replace('_', ' '))} <select name="${key}"><option value="">all</option>${choices[key]
            .map((v) => `<option${filters[key] === v ? ' selected' : ''}>${h(v)}</option>`)
            .join('')}</select></label>`,
      ).join('\n');
      const next = new URLSearchParams(query);
      next.set('before', String(jobs.at(-1)?.jobId ?? 0));
      const older = jobs.length === limit ? `<a href="/jobs?${h(next.toString())}">older</a>` : '';
      sendText(res, 200, page('Jobs', `<form method="get">${selects}<button>Filter</button></form>${jobsTable(jobs, temporalUi)}${older}`), 'text/html; charset=utf-8');
    } else if ((match = /^\/(api\/)?jobs\/(\d+)(\/output)?$/.exec(path))) {
      const found = await getJob(pool, Number(match[2]));
      if (!found) throw new HttpError(404, `no job ${match[2]}`);
      if (match[1]) return sendJson(res, 200, found);
      const { job, commands } = found;
      const lines = transcript(commands);
      const output = lines.map((line, i) => `<tr id="L${i + 1}"><td class="n"><a href="#L${i + 1}" data-lineno="${i + 1}">${i + 1}</a></td><td><pre>${h(line)}</pre></td></tr>`).join('\n');
      const header = `${jobsTable([job], temporalUi)}
<p>Image: <a href="${h(job.imageUrl)}">${h(job.imagePath)}</a>. ${job.accelerator ? `Booted by ${h(job.vmBackend ?? '?')} under ${h(job.accelerator)} in ${((job.bootMs ?? 0) / 1000).toFixed(1)} s. ` : ''}${job.acceleratorFallback ? `Restarted under TCG after KVM failed: ${h(job.acceleratorFallback)}. ` : ''}${job.reason ? `<strong>${h(job.reason)}</strong>` : ''}</p>
<p><a href="/composes/${encodeURIComponent(job.composeId)}">Go back</a></p>`;
      sendText(res, 200, page(`Job ${job.jobId}: ${job.imageName} (${job.imageType}, ${job.provider})`, `${header}<table class="output">\n${output}\n</table>`), 'text/html; charset=utf-8');
    } else if (path === '/about') {
      sendText(res, 200, page('About', `<p>Compose testing by releng-o-tron: every finished compose's cloud images are downloaded (checksums verified), booted with a cloud-init NoCloud seed and tested with a Tunir plan over SSH. Results are published as <code>autocloud.*</code> and <code>ci.productmd-compose.test.*</code> messages.</p>`), 'text/html; charset=utf-8');
    } else {
      throw new HttpError(404, `nothing at ${path}`);
    }
  };
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const handle = dashboardHandler(options);
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const code = err instanceof HttpError ? err.status : 500;
      if (code === 500) options.log?.error({ err, url: req.url }, 'dashboard request failed');
      if (!res.headersSent) sendText(res, code, page(code === 404 ? 'Not found' : 'Error', `<p>${h((err as Error).message)}</p>`), 'text/html; charset=utf-8');
      else res.end();
    });
  });
  const [host, port] = options.listen.split(':') as [string, string];
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
