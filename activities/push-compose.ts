/**
 * A push's images as a Pungi compose tree, as Bodhi's pushes produce updates composes
 * (`Fedora-29-updates-20261123.0`): each image Koji built is downloaded and checked against
 * Koji's sha256, laid out under `compose/<Variant>/<arch>/<dir>/`, with a CHECKSUM file per
 * directory and productmd images.json and composeinfo.json, so the compose-testing runs test it
 * exactly as they test a nightly compose, and the mirror receives the same directories.
 * Docs: ../shared/docs/fedora-apis.md §3 (productmd, layout) and §7 (CHECKSUM files).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ComposeInfo, ImagesJson, ProductmdImage } from '../common/schemas/productmd.js';
import { ChecksumMismatchError, ImageCache, ImageNotServedError, ImageUnusableError, type ImageToFetch } from './image-cache.js';
import type { ImageFile } from './koji.js';
import type { HttpLimits } from '../common/http-body.js';
import { checkedName } from '../common/safe-names.js';
import { pathInside } from './safe-path.js';

/** One image of the push, where it goes in the compose and what productmd calls it. */
export interface PushComposeImage {
  /** Compose-relative directory: `Cloud/x86_64/images`; its first part is the variant. */
  readonly dir: string;
  /** productmd image type (qcow2, raw-xz, vagrant-libvirt, dvd...) and file format. */
  readonly type: string;
  readonly format: string;
  readonly subvariant: string;
  readonly file: ImageFile;
}

export interface AssemblePushComposeInput {
  /** The push run; a retry finds the compose it started. */
  readonly pushWorkflowId: string;
  readonly release: { readonly name: string; readonly short: string; readonly version: string };
  /** productmd release type: `updates` or `updates-testing`. */
  readonly releaseType: string;
  /** YYYYMMDD. */
  readonly date: string;
  readonly images: readonly PushComposeImage[];
}

export interface PushCompose {
  readonly composeId: string;
  /** The compose's URL, ending in `/compose`, for the compose-testing run. */
  readonly location: string;
  /** Absolute path of `compose/`. */
  readonly composeDir: string;
  /** Compose-relative directories holding images, each with its CHECKSUM. */
  readonly imageDirs: readonly string[];
}

export interface PushComposeActivities {
  assemblePushCompose(input: AssemblePushComposeInput): Promise<PushCompose>;
}

export interface PushComposeDeps {
  /** Where push composes are written: `<root>/<composeId>/compose/...`. */
  readonly composeRoot: string;
  /** Where Koji's files are downloaded to first (checked, resumable), then linked into composes. */
  readonly downloadDir: string;
  /** Where `composeRoot` is served over HTTP. */
  readonly composeUrl: string;
  readonly http: HttpLimits;
}

const MARKER = '.releng-o-tron-push';
const CHECKSUM_HEADER = (file: string, size: number) => `# ${file}: ${size} bytes\n`;

/** Fedora's CHECKSUM format (BSD style, as `sha256sum --tag` writes), with the size comments. */
export function checksumFileText(files: readonly { readonly name: string; readonly size: number; readonly sha256: string }[]): string {
  return [...files]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => `${CHECKSUM_HEADER(f.name, f.size)}SHA256 (${f.name}) = ${f.sha256}\n`)
    .join('');
}

/** The compose this push run already started, or the next free respin of the day. */
function composeIdFor(root: string, input: AssemblePushComposeInput): string {
  const prefix = `${input.release.short}-${input.release.version}-${input.releaseType}-${input.date}.`;
  const taken = existsSync(root) ? readdirSync(root).filter((name) => name.startsWith(prefix)) : [];
  for (const name of taken) {
    const marker = join(root, name, MARKER);
    if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === input.pushWorkflowId) return name;
  }
  const respins = taken.map((name) => Number(name.slice(prefix.length))).filter(Number.isInteger);
  return `${prefix}${respins.length === 0 ? 0 : Math.max(...respins) + 1}`;
}

export const PUSH_WORK_DIR_FULL = 'PushWorkDirFull';

/** ENOSPC as the operator needs to read it: which directory is full. Retryable: space can be freed. */
export function diskFull(err: unknown, dir: string): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
  return ApplicationFailure.retryable(`no space left in ${dir} (free some, then retry): ${(err as Error).message}`, PUSH_WORK_DIR_FULL);
}

/**
 * A checked file put at `target` in a tree: downloaded into the image cache (resumable, refused
 * unless its sha256 matches) unless `target` already has it, then hard-linked there (copied
 * across filesystems). Failures come as the operator needs them: not served (final), a checksum
 * mismatch (retried), a full disk (named).
 */
export async function fetchInto(downloads: ImageCache, file: ImageToFetch, target: string, options: { readonly http: HttpLimits; readonly server: string; readonly notServedType: string; readonly diskDir: string }): Promise<void> {
  if (existsSync(target) && statSync(target).size === file.sizeBytes) return;
  const context = Context.current();
  let got;
  try {
    got = await downloads.fetch(file, { timeoutMs: options.http.timeoutMs, signal: context.cancellationSignal, onProgress: (p) => context.heartbeat({ image: file.fileName, ...p }) });
  } catch (err) {
    if (err instanceof ImageNotServedError) throw ApplicationFailure.nonRetryable(`${options.server} does not serve ${file.url}: ${err.message}`, options.notServedType);
    if (err instanceof ChecksumMismatchError) throw ApplicationFailure.retryable(err.message, 'ImageChecksumMismatch');
    if (err instanceof ImageUnusableError) throw ApplicationFailure.nonRetryable(err.message, 'ImageUnusable');
    throw diskFull(err, options.diskDir);
  }
  mkdirSync(dirname(target), { recursive: true });
  rmSync(target, { force: true });
  try {
    linkSync(got.path, target);
  } catch {
    copyFileSync(got.path, target);
  }
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function createPushComposeActivities(deps: PushComposeDeps): PushComposeActivities {
  const downloads = new ImageCache(deps.downloadDir);
  return {
    async assemblePushCompose(input: AssemblePushComposeInput): Promise<PushCompose> {
      try {
        return await assemble(input);
      } catch (err) {
        throw diskFull(err, deps.composeRoot);
      }
    },
  };

  async function assemble(input: AssemblePushComposeInput): Promise<PushCompose> {
    const context = Context.current();
    // Bodhi's release and Koji's file names become paths here: each checked against its grammar.
    checkedName('release version', input.release.version, "the push's release version");
    const composeId = checkedName('compose ID', composeIdFor(deps.composeRoot, input), 'the push compose');
    const top = pathInside(deps.composeRoot, composeId, 'the push compose');
    const composeDir = join(top, 'compose');
    mkdirSync(composeDir, { recursive: true });
    writeFileSync(join(top, MARKER), `${input.pushWorkflowId}\n`);
    writeAtomically(join(top, 'STATUS'), 'STARTED\n');

    const byDir = new Map<string, { name: string; size: number; sha256: string }[]>();
    const images: ImagesJson['payload']['images'] = {};
    const variants: ComposeInfo['payload']['variants'] = {};
    let fetched = 0;
    for (const image of input.images) {
      const variant = image.dir.split('/')[0]!;
      checkedName('file name', image.file.filename, "Koji's image file name");
      const target = pathInside(composeDir, `${image.dir}/${image.file.filename}`, `the compose directory of ${image.file.filename}`);
      await fetchInto(
        downloads,
        { url: image.file.url, sha256: image.file.sha256, sizeBytes: image.file.size, fileName: image.file.filename },
        target,
        { http: deps.http, server: 'Koji', notServedType: 'KojiImageNotServed', diskDir: deps.downloadDir },
      );
      context.heartbeat({ images: ++fetched, of: input.images.length });
      byDir.set(image.dir, [...(byDir.get(image.dir) ?? []), { name: image.file.filename, size: image.file.size, sha256: image.file.sha256 }]);
      const entry: ProductmdImage = {
        arch: image.file.arch, bootable: image.type === 'dvd', checksums: { sha256: image.file.sha256 }, disc_count: 1, disc_number: 1,
        format: image.format, implant_md5: null, mtime: Math.floor(statSync(target).mtimeMs / 1000), path: `${image.dir}/${image.file.filename}`,
        size: image.file.size, subvariant: image.subvariant, type: image.type, volume_id: null,
      };
      ((images[variant] ??= {})[image.file.arch] ??= []).push(entry);
      const known = variants[variant];
      const arches = new Set([...(known?.arches ?? []), image.file.arch]);
      variants[variant] = {
        id: variant, uid: variant, name: variant, type: 'variant', arches: [...arches].sort(),
        paths: { images: Object.fromEntries([...arches].sort().map((a) => [a, `${variant}/${a}/images`])) },
      };
    }
    for (const [dir, files] of byDir) {
      // A CHECKSUM someone already signed is left alone (the signature covers this text).
      const path = join(composeDir, dir, 'CHECKSUM');
      const text = checksumFileText(files);
      if (!(existsSync(path) && readFileSync(path, 'utf8').includes(text.trim()))) writeAtomically(path, text);
    }
    const compose = { id: composeId, date: input.date, respin: Number(composeId.slice(composeId.lastIndexOf('.') + 1)), type: 'production' as const, label: null };
    const release = { name: input.release.name, short: input.release.short, version: input.release.version, type: input.releaseType, internal: false, is_layered: false };
    const imagesJson: ImagesJson = { header: { type: 'productmd.images', version: '1.2' }, payload: { compose, images } };
    const composeInfo: ComposeInfo = { header: { type: 'productmd.composeinfo', version: '1.2' }, payload: { compose, release, variants } };
    writeAtomically(join(composeDir, 'metadata', 'images.json'), `${JSON.stringify(imagesJson, null, 4)}\n`);
    writeAtomically(join(composeDir, 'metadata', 'composeinfo.json'), `${JSON.stringify(composeInfo, null, 4)}\n`);
    writeAtomically(join(top, 'COMPOSE_ID'), `${composeId}\n`);
    writeAtomically(join(top, 'STATUS'), 'FINISHED\n');
    return {
      composeId,
      location: `${deps.composeUrl.replace(/\/+$/, '')}/${composeId}/compose`,
      composeDir,
      imageDirs: [...byDir.keys()].sort(),
    };
  }
}
