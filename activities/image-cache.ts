/**
 * Images on an image-test host: downloaded once, streamed through sha256 as the bytes arrive,
 * resumed with a Range request after an interrupted attempt, and kept by checksum so a retry or
 * another job of the same image reuses them. A file is in the cache only once its checksum matched.
 * Booting needs a disk: raw.xz is decompressed and Vagrant boxes are unpacked, once per image.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { z } from 'zod';

const run = promisify(execFile);

export interface ImageToFetch {
  readonly url: string;
  /** From images.json; the download is refused unless the bytes hash to it. */
  readonly sha256: string;
  readonly sizeBytes: number;
  /** The image's file name in the compose (kept, so a person can tell what a cache entry is). */
  readonly fileName: string;
}

export interface DownloadProgress {
  readonly phase: 'download';
  readonly bytes: number;
  readonly total: number;
  /** Where this attempt started: above 0 when it resumed an earlier attempt's partial file. */
  readonly resumedFrom: number;
}

export interface FetchedImage {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly fromCache: boolean;
  /** Bytes an earlier attempt had already fetched (0: from the start). */
  readonly resumedFrom: number;
  /** Bytes this attempt transferred. */
  readonly transferred: number;
}

export interface FetchOptions {
  readonly signal?: AbortSignal;
  /** Per read: a server that sends nothing for this long is given up on. */
  readonly timeoutMs: number;
  readonly onProgress?: (progress: DownloadProgress) => void;
}

export type BootDisk =
  | { readonly kind: 'disk'; readonly path: string; readonly format: 'qcow2' | 'raw' }
  | { readonly kind: 'ovf'; readonly path: string };

/** The bytes did not hash to what the metadata says: retry (the transfer broke), then give up. */
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
}
/** The server answered, but not with the image (404, 403...): the compose is broken, not the network. */
export class ImageNotServedError extends Error {
  override name = 'ImageNotServedError';
}
/** The image arrived but cannot become a bootable disk (bad xz, a box without its disk). */
export class ImageUnusableError extends Error {
  override name = 'ImageUnusableError';
}

/** metadata.json of a Vagrant box (vagrant-libvirt writes provider, format, virtual_size). */
const BoxMetadataSchema = z.looseObject({
  provider: z.string(),
  format: z.string().optional(),
});

export class ImageCache {
  /** One fetch or unpack per cache entry at a time within this process. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    const started = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }

  entryDir(sha256: string): string {
    return join(this.root, sha256);
  }

  partialPath(sha256: string): string {
    return join(this.root, 'partial', `${sha256}.part`);
  }

  async fetch(image: ImageToFetch, options: FetchOptions): Promise<FetchedImage> {
    if (!/^[0-9a-f]{64}$/.test(image.sha256)) throw new ImageUnusableError(`${image.url}: images.json gives no usable sha256 (${image.sha256})`);
    if (/[/\\]|^\.\.?$/.test(image.fileName)) throw new ImageUnusableError(`${JSON.stringify(image.fileName)} is not a file name`);
    return this.once(`fetch:${image.sha256}`, () => this.fetchNow(image, options));
  }

  private async fetchNow(image: ImageToFetch, options: FetchOptions): Promise<FetchedImage> {
    const final = join(this.entryDir(image.sha256), image.fileName);
    if (existsSync(final)) {
      const { size } = await stat(final);
      return { path: final, sha256: image.sha256, bytes: size, fromCache: true, resumedFrom: 0, transferred: 0 };
    }
    const part = this.partialPath(image.sha256);
    await mkdir(join(this.root, 'partial'), { recursive: true });
    let have = existsSync(part) ? (await stat(part)).size : 0;
    if (have > image.sizeBytes) {
      await rm(part, { force: true });
      have = 0;
    }
    const hash = createHash('sha256');
    if (have > 0) await pipeline(createReadStream(part), hashInto(hash));
    if (have > 0 && have === image.sizeBytes) return this.finish(image, part, hash, have, have, 0);

    const response = await request(image.url, {
      method: 'GET',
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
      signal: options.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const rangeStart = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''))?.[1];
    if (response.statusCode === 206 && have > 0 && Number(rangeStart) === have) {
      return this.download(image, part, hash, have, response.body, options);
    }
    if (response.statusCode === 200) {
      // From the start: nothing to resume, or the server ignored the range.
      return this.download(image, part, createHash('sha256'), 0, response.body, options);
    }
    await response.body.dump();
    if (response.statusCode === 416 && have > 0) {
      // The partial file is not a prefix of what is served now; start again.
      await rm(part, { force: true });
      return this.fetchNow(image, options);
    }
    throw new ImageNotServedError(`GET ${image.url}: HTTP ${response.statusCode}`);
  }

  private async download(image: ImageToFetch, part: string, hash: Hash, resumedFrom: number, body: NodeJS.ReadableStream, options: FetchOptions): Promise<FetchedImage> {
    let bytes = resumedFrom;
    let lastReport = 0;
    const progress = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        const now = Date.now();
        if (options.onProgress && now - lastReport >= 1000) {
          lastReport = now;
          options.onProgress({ phase: 'download', bytes, total: image.sizeBytes, resumedFrom });
        }
        done(null, chunk);
      },
    });
    await pipeline(body, progress, createWriteStream(part, { flags: resumedFrom > 0 ? 'a' : 'w' }), { signal: options.signal });
    options.onProgress?.({ phase: 'download', bytes, total: image.sizeBytes, resumedFrom });
    return this.finish(image, part, hash, bytes, resumedFrom, bytes - resumedFrom);
  }

  private async finish(image: ImageToFetch, part: string, hash: Hash, bytes: number, resumedFrom: number, transferred: number): Promise<FetchedImage> {
    const actual = hash.digest('hex');
    if (actual !== image.sha256 || bytes !== image.sizeBytes) {
      await rm(part, { force: true });
      throw new ChecksumMismatchError(
        `${image.url}: got ${bytes} bytes with sha256 ${actual}; images.json says ${image.sizeBytes} bytes with sha256 ${image.sha256}`,
      );
    }
    const dir = this.entryDir(image.sha256);
    await mkdir(dir, { recursive: true });
    const final = join(dir, image.fileName);
    await rename(part, final);
    return { path: final, sha256: image.sha256, bytes, fromCache: false, resumedFrom, transferred };
  }

  /** A disk qemu can boot (or an OVF for VirtualBox), made once per image and kept beside it. */
  bootDisk(fetched: FetchedImage, imageType: string): Promise<BootDisk> {
    return this.once(`disk:${fetched.sha256}:${imageType}`, () => this.unpack(fetched, imageType));
  }

  private async unpack(fetched: FetchedImage, imageType: string): Promise<BootDisk> {
    const dir = this.entryDir(fetched.sha256);
    switch (imageType) {
      case 'qcow2':
        return { kind: 'disk', path: fetched.path, format: 'qcow2' };
      case 'raw-xz': {
        const disk = join(dir, 'disk.raw');
        if (!existsSync(disk)) {
          const partial = `${disk}.partial`;
          try {
            await pipeline(xzDecompress(fetched.path), createWriteStream(partial));
          } catch (err) {
            await rm(partial, { force: true });
            throw new ImageUnusableError(`${fetched.path} does not decompress with xz: ${(err as Error).message}`);
          }
          await rename(partial, disk);
        }
        return { kind: 'disk', path: disk, format: 'raw' };
      }
      case 'vagrant-libvirt':
      case 'vagrant-virtualbox': {
        const boxDir = join(dir, 'box');
        if (!existsSync(boxDir)) {
          const partial = `${boxDir}.partial`;
          await rm(partial, { recursive: true, force: true });
          await mkdir(partial, { recursive: true });
          try {
            // GNU tar refuses members that climb out with `..` and strips leading slashes.
            await run('tar', ['-xf', fetched.path, '-C', partial, '--no-same-owner']);
          } catch (err) {
            await rm(partial, { recursive: true, force: true });
            throw new ImageUnusableError(`${fetched.path} is not a Vagrant box (tar): ${(err as Error).message.split('\n')[0]}`);
          }
          await rename(partial, boxDir);
        }
        const metadata = BoxMetadataSchema.safeParse(JSON.parse(await readFile(join(boxDir, 'metadata.json'), 'utf8').catch(() => 'null')));
        if (!metadata.success) throw new ImageUnusableError(`${fetched.path}: the box has no valid metadata.json`);
        if (imageType === 'vagrant-libvirt') {
          if (metadata.data.provider !== 'libvirt') throw new ImageUnusableError(`${fetched.path}: a ${metadata.data.provider} box, not libvirt`);
          const disk = join(boxDir, 'box.img');
          if (!existsSync(disk)) throw new ImageUnusableError(`${fetched.path}: the libvirt box has no box.img`);
          return { kind: 'disk', path: disk, format: metadata.data.format === 'raw' ? 'raw' : 'qcow2' };
        }
        if (metadata.data.provider !== 'virtualbox') throw new ImageUnusableError(`${fetched.path}: a ${metadata.data.provider} box, not virtualbox`);
        const ovf = (await readdir(boxDir)).find((name) => name.endsWith('.ovf'));
        if (!ovf) throw new ImageUnusableError(`${fetched.path}: the VirtualBox box has no .ovf`);
        return { kind: 'ovf', path: join(boxDir, ovf) };
      }
      default:
        throw new ImageUnusableError(`image type ${imageType} cannot be booted here`);
    }
  }
}

function hashInto(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done();
    },
  });
}

/** xz's own decoder (xz-utils): Node has none, and the tool checks the stream's integrity. */
function xzDecompress(file: string): NodeJS.ReadableStream {
  const child = spawn('xz', ['--decompress', '--stdout', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `xz exited ${code}`))));
  });
  // Fail the pipeline when xz fails, even after its stdout ended cleanly.
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, chunk);
    },
    flush(done) {
      exited.then(() => done(), done);
    },
  });
  child.stdout.pipe(checked);
  child.stdout.on('error', (err) => checked.destroy(err));
  exited.catch((err: Error) => checked.destroy(err));
  return checked;
}
