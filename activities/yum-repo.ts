/**
 * The repository Koji's distRepo wrote for a push's target tag, fetched to the releng host as a
 * yum client reads it: repomd.xml, then the metadata it names and every package primary.xml
 * lists, each checked against its sha256. The push composes its OSTrees from these RPMs and
 * syncs the repository to the mirror, as Bodhi's updates sync does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { XMLParser } from 'fast-xml-parser';
import { request } from 'undici';
import { z } from 'zod';
import { readCapped, ResponseTooLargeError, type HttpLimits } from '../common/http-body.js';
import { issueLines } from '../common/schemas/issues.js';
import { responseTooLarge } from './http.js';
import { diskFull } from './push-compose.js';

export const REPO_METADATA_INVALID = 'RepoMetadataInvalid';

export interface RepoPackage {
  readonly name: string;
  /** N-V-R, as Koji and Bodhi name the build. */
  readonly nvr: string;
  /** Relative to the repository: `Packages/e/earlyoom-1.3-2.fc29.noarch.rpm`. */
  readonly location: string;
}

export interface FetchedRepo {
  readonly tag: string;
  readonly repoId: number;
  /** The local copy: repodata/ and Packages/. */
  readonly dir: string;
  readonly url: string;
  readonly packages: readonly RepoPackage[];
}

export interface YumRepoActivities {
  /** Fetches Koji's dist repo of a tag (`repos-dist/<tag>/<repo id>/noarch/`) into the work dir. */
  fetchDistRepo(input: { readonly tag: string; readonly repoId: number }): Promise<FetchedRepo>;
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['data', 'package'].includes(name) });

const RepomdSchema = z.object({
  repomd: z.object({
    data: z.array(z.object({ type: z.string(), checksum: z.object({ type: z.string(), '#text': z.string() }), location: z.object({ href: z.string() }) })),
  }),
});

const PrimarySchema = z.object({
  metadata: z.object({
    package: z
      .array(
        z.object({
          name: z.string(),
          version: z.object({ ver: z.coerce.string(), rel: z.coerce.string() }),
          checksum: z.object({ type: z.string(), '#text': z.string() }),
          location: z.object({ href: z.string() }),
          // createrepo_c's <size package="..."/>: a download stops as soon as it passes this.
          size: z.object({ package: z.coerce.number().int().nonnegative() }),
        }),
      )
      .default([]),
  }),
});

function checked<S extends z.ZodType>(schema: S, xml: string, what: string): z.infer<S> {
  const parsed = schema.safeParse(parser.parse(xml));
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`${what}: ${issueLines(parsed.error).join('; ')}`, REPO_METADATA_INVALID);
  return parsed.data;
}

/** A path inside the repository, never outside it. */
function inside(dir: string, href: string): string {
  const path = normalize(href);
  if (path.startsWith('..') || path.startsWith('/')) throw ApplicationFailure.nonRetryable(`repository location ${href} leaves the repository`, REPO_METADATA_INVALID);
  return join(dir, path);
}

async function download(url: string, http: HttpLimits): Promise<Buffer> {
  let response;
  let body: Buffer;
  try {
    response = await request(url, { headersTimeout: http.timeoutMs, bodyTimeout: http.timeoutMs, signal: Context.current().cancellationSignal });
    body = await readCapped(response, http.maxBytes, `GET ${url}`);
  } catch (err) {
    if (err instanceof ResponseTooLargeError) throw responseTooLarge(err);
    throw ApplicationFailure.retryable(`GET ${url} failed: ${(err as Error).message}`, 'HttpUnreachable');
  }
  if (response.statusCode === 404) throw ApplicationFailure.nonRetryable(`GET ${url}: 404 Not Found`, 'HttpNotFound');
  if (response.statusCode !== 200) throw ApplicationFailure.retryable(`GET ${url}: HTTP ${response.statusCode}`, 'HttpServerError');
  return body;
}

/** primary.xml.gz unpacked, but never past the response cap: a small gzip can unpack to gigabytes. */
function gunzipCapped(data: Buffer, maxBytes: number, name: string): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger/.test((err as Error).message);
    throw ApplicationFailure.nonRetryable(`${name}: ${tooBig ? `unpacks to more than ${maxBytes} bytes` : `not gzip: ${(err as Error).message}`}`, REPO_METADATA_INVALID);
  }
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Fetches a file unless a copy with the expected sha256 is already there. */
async function fetchChecked(url: string, path: string, expected: { type: string; '#text': string }, http: HttpLimits): Promise<Buffer> {
  if (expected.type !== 'sha256') throw ApplicationFailure.nonRetryable(`${url}: ${expected.type} checksum; only sha256 is trusted`, REPO_METADATA_INVALID);
  if (existsSync(path)) {
    const have = readFileSync(path);
    if (sha256(have) === expected['#text']) return have;
  }
  const data = await download(url, http);
  // A broken transfer is worth another try; the attempt's retry policy decides how many.
  if (sha256(data) !== expected['#text']) throw ApplicationFailure.retryable(`${url}: sha256 ${sha256(data)}, the repository metadata says ${expected['#text']}`, 'RepoChecksumMismatch');
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.part`, data);
    renameSync(`${path}.part`, path);
  } catch (err) {
    throw diskFull(err, dirname(path));
  }
  return data;
}

export function createYumRepoActivities(deps: { readonly kojiTopUrl: string; readonly workDir: string; readonly http: HttpLimits }): YumRepoActivities {
  return {
    async fetchDistRepo(input) {
      // The tag names a directory here: only Koji's grammar, never a path.
      if (!/^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/.test(input.tag) || !Number.isSafeInteger(input.repoId) || input.repoId < 0) {
        throw ApplicationFailure.nonRetryable(`not a Koji tag and repository: ${JSON.stringify(input.tag).slice(0, 140)} ${input.repoId}`, REPO_METADATA_INVALID);
      }
      const context = Context.current();
      const url = `${deps.kojiTopUrl.replace(/\/+$/, '')}/repos-dist/${encodeURIComponent(input.tag)}/${input.repoId}/noarch`;
      const dir = join(deps.workDir, 'repos', input.tag, String(input.repoId), 'noarch');
      const repomdXml = await download(`${url}/repodata/repomd.xml`, deps.http);
      const repomd = checked(RepomdSchema, repomdXml.toString('utf8'), `${url}/repodata/repomd.xml`);
      let primaryXml: string | null = null;
      for (const data of repomd.repomd.data) {
        const content = await fetchChecked(`${url}/${data.location.href}`, inside(dir, data.location.href), data.checksum, deps.http);
        if (data.type === 'primary') primaryXml = (data.location.href.endsWith('.gz') ? gunzipCapped(content, deps.http.maxBytes, data.location.href) : content).toString('utf8');
      }
      if (primaryXml === null) throw ApplicationFailure.nonRetryable(`${url}/repodata/repomd.xml names no primary metadata`, REPO_METADATA_INVALID);
      const primary = checked(PrimarySchema, primaryXml, `${url} primary metadata`);
      const packages: RepoPackage[] = [];
      for (const [i, pkg] of primary.metadata.package.entries()) {
        await fetchChecked(`${url}/${pkg.location.href}`, inside(dir, pkg.location.href), pkg.checksum, { ...deps.http, maxBytes: pkg.size.package });
        packages.push({ name: pkg.name, nvr: `${pkg.name}-${pkg.version.ver}-${pkg.version.rel}`, location: pkg.location.href });
        if (i % 50 === 0) context.heartbeat({ packages: i + 1, of: primary.metadata.package.length });
      }
      // repomd.xml last: a copy is only complete when it names what is already there.
      writeFileSync(join(dir, 'repodata', 'repomd.xml.part'), repomdXml);
      renameSync(join(dir, 'repodata', 'repomd.xml.part'), join(dir, 'repodata', 'repomd.xml'));
      return { tag: input.tag, repoId: input.repoId, dir: dirname(dir), url, packages };
    },
  };
}
