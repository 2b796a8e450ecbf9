/**
 * The repository Koji's distRepo wrote for a push's target tag, fetched to the releng host as a
 * yum client reads it: repomd.xml, then the metadata it names and every package primary.xml
 * lists, each checked against its sha256. The push composes its OSTrees from these RPMs and
 * syncs the repository to the mirror, as Bodhi's updates sync does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { XMLParser } from 'fast-xml-parser';
import { request } from 'undici';
import { z } from 'zod';
import { readCapped, ResponseTooLargeError, type HttpLimits } from '../common/http-body.js';
import { issueLines } from '../common/schemas/issues.js';
import { checkedName, relativePathProblem } from '../common/safe-names.js';
import { responseTooLarge } from './http.js';
import { diskFull } from './push-compose.js';
import { pathInside } from './safe-path.js';

export const REPO_METADATA_INVALID = 'RepoMetadataInvalid';

export interface RepoPackage {
  readonly name: string;
  /** N-V-R, as Koji and Bodhi name the build. */
  readonly nvr: string;
  /** The RPM's arch: `noarch`, `x86_64`, ... */
  readonly arch: string;
  /** Relative to the arch's repository: `Packages/e/earlyoom-1.3-2.fc29.x86_64.rpm`. */
  readonly location: string;
}

export interface FetchedRepo {
  readonly tag: string;
  readonly repoId: number;
  /** The local copy: one directory per arch, each with repodata/ and Packages/, as Fedora's `Everything/<arch>/`. */
  readonly dir: string;
  readonly url: string;
  /** Each arch's repository and how many packages it holds (noarch ones in every arch). */
  readonly archRepos?: readonly { readonly arch: string; readonly packages: number }[];
  /** How many builds the repository holds. */
  readonly builds?: number;
  /** Runs from before per-arch repositories: the one noarch repository's packages. */
  readonly packages?: readonly RepoPackage[];
}

export interface YumRepoActivities {
  /** Fetches Koji's dist repo of a tag (`repos-dist/<tag>/<repo id>/<arch>/` for each arch) into the work dir. */
  fetchDistRepo(input: { readonly tag: string; readonly repoId: number; readonly arches?: readonly string[] }): Promise<FetchedRepo>;
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
          arch: z.string(),
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

/** A path inside the repository, never outside it: a metadata href is outside data. */
function inside(dir: string, href: string): string {
  const problem = relativePathProblem(href);
  if (problem) throw ApplicationFailure.nonRetryable(`repository location ${href.slice(0, 200)}: ${problem}`, REPO_METADATA_INVALID);
  return pathInside(dir, href, 'repository location');
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

/** The packages a repository's primary metadata lists, each checked to lie inside the repository. */
function packagesOf(dir: string, primaryXml: string, what: string) {
  return checked(PrimarySchema, primaryXml, what).metadata.package.map((pkg) => ({ pkg, path: inside(dir, pkg.location.href) }));
}

/** The primary metadata of a repository on disk (one fetched here), as text. */
function localPrimary(dir: string, maxBytes: number): string {
  const repomdPath = join(dir, 'repodata', 'repomd.xml');
  if (!existsSync(repomdPath)) throw ApplicationFailure.nonRetryable(`${dir} holds no repository (no repodata/repomd.xml)`, REPO_METADATA_INVALID);
  const repomd = checked(RepomdSchema, readFileSync(repomdPath, 'utf8'), repomdPath);
  const primary = repomd.repomd.data.find((d) => d.type === 'primary');
  if (!primary) throw ApplicationFailure.nonRetryable(`${repomdPath} names no primary metadata`, REPO_METADATA_INVALID);
  const content = readFileSync(inside(dir, primary.location.href));
  if (sha256(content) !== primary.checksum['#text']) throw ApplicationFailure.nonRetryable(`${dir}: primary metadata does not match repomd.xml's sha256`, REPO_METADATA_INVALID);
  return (primary.location.href.endsWith('.gz') ? gunzipCapped(content, maxBytes, primary.location.href) : content).toString('utf8');
}

/** A local repository's packages (one arch's, as fetched): name, N-V-R, arch and file. */
export function readLocalRepo(dir: string, maxBytes = 256 * 1024 * 1024): (RepoPackage & { readonly path: string })[] {
  return packagesOf(dir, localPrimary(dir, maxBytes), `${dir} primary metadata`).map(({ pkg, path }) => ({
    name: pkg.name, nvr: `${pkg.name}-${pkg.version.ver}-${pkg.version.rel}`, arch: pkg.arch, location: pkg.location.href, path,
  }));
}

export function createYumRepoActivities(deps: { readonly kojiTopUrl: string; readonly workDir: string; readonly http: HttpLimits }): YumRepoActivities {
  /** One arch's repository: repomd.xml, the metadata it names, every package primary.xml lists, repomd.xml last. */
  async function fetchArch(url: string, dir: string, progress: { done: number }): Promise<RepoPackage[]> {
    const context = Context.current();
    const repomdXml = await download(`${url}/repodata/repomd.xml`, deps.http);
    const repomd = checked(RepomdSchema, repomdXml.toString('utf8'), `${url}/repodata/repomd.xml`);
    let primaryXml: string | null = null;
    for (const data of repomd.repomd.data) {
      const content = await fetchChecked(`${url}/${data.location.href}`, inside(dir, data.location.href), data.checksum, deps.http);
      if (data.type === 'primary') primaryXml = (data.location.href.endsWith('.gz') ? gunzipCapped(content, deps.http.maxBytes, data.location.href) : content).toString('utf8');
    }
    if (primaryXml === null) throw ApplicationFailure.nonRetryable(`${url}/repodata/repomd.xml names no primary metadata`, REPO_METADATA_INVALID);
    const packages: RepoPackage[] = [];
    for (const { pkg, path } of packagesOf(dir, primaryXml, `${url} primary metadata`)) {
      await fetchChecked(`${url}/${pkg.location.href}`, path, pkg.checksum, { ...deps.http, maxBytes: pkg.size.package });
      packages.push({ name: pkg.name, nvr: `${pkg.name}-${pkg.version.ver}-${pkg.version.rel}`, arch: pkg.arch, location: pkg.location.href });
      if (++progress.done % 50 === 0) context.heartbeat({ packages: progress.done });
    }
    // repomd.xml last: a copy is only complete when it names what is already there.
    writeFileSync(join(dir, 'repodata', 'repomd.xml.part'), repomdXml);
    renameSync(join(dir, 'repodata', 'repomd.xml.part'), join(dir, 'repodata', 'repomd.xml'));
    return packages;
  }

  return {
    async fetchDistRepo(input) {
      // The tag, the repository ID and the arches name directories here: only their grammars, never a path.
      checkedName('Koji tag', input.tag, "the push's target tag");
      if (!Number.isSafeInteger(input.repoId) || input.repoId < 0) throw ApplicationFailure.nonRetryable(`not a Koji repository ID: ${input.repoId}`, REPO_METADATA_INVALID);
      for (const arch of input.arches ?? []) checkedName('arch', arch, 'a repository arch');
      // Runs from before per-arch repositories fetched the one noarch directory.
      const arches = input.arches ?? ['noarch'];
      const top = `${deps.kojiTopUrl.replace(/\/+$/, '')}/repos-dist/${encodeURIComponent(input.tag)}/${input.repoId}`;
      const dir = pathInside(deps.workDir, `repos/${input.tag}/${input.repoId}`, 'the fetched repository');
      const progress = { done: 0 };
      const archRepos: { arch: string; packages: number }[] = [];
      const nvrs = new Set<string>();
      let legacy: RepoPackage[] = [];
      for (const arch of arches) {
        const packages = await fetchArch(`${top}/${arch}`, join(dir, arch), progress);
        archRepos.push({ arch, packages: packages.length });
        for (const p of packages) nvrs.add(p.nvr);
        if (!input.arches) legacy = packages;
      }
      return { tag: input.tag, repoId: input.repoId, dir, url: top, archRepos, builds: nvrs.size, ...(input.arches ? {} : { packages: legacy }) };
    },
  };
}
