/**
 * Images on an image-test host: downloaded once, streamed through sha256 as the bytes arrive,
 * resumed with a Range request after an interrupted attempt, and kept by checksum so a retry or
 * another job of the same image reuses them. A file is in the cache only once its checksum matched.
 * Booting needs a disk: raw.xz is decompressed and Vagrant boxes are unpacked, once per image.
 *
 * Every image is hostile until checked: a download stops as soon as it passes the declared size;
 * a qcow2 that names a backing file (which would let the VM read a host file) or an external data
 * file is refused; box members must be plain files and directories inside the box; xz and tar
 * output are capped; a full disk while unpacking is the host's problem (ENOSPC), never a verdict on
 * the image. The cache keeps to a size budget, least recently used first, never an image in use.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { z } from 'zod';
import { nameProblem } from '../common/safe-names.js';

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

export interface ImageCacheLimits {
  /** The most a raw.xz may decompress to, or a box may unpack to (Fedora's raw images: ~5 GiB). */
  readonly unpackBytes: number;
  /** The cache's size on disk above which the least recently used entries go; 0: no budget. */
  readonly budgetBytes: number;
}

export const DEFAULT_CACHE_LIMITS: ImageCacheLimits = { unpackBytes: 32 * 1024 ** 3, budgetBytes: 0 };

/** An ENOSPC error, so that callers map it to a retryable HostDiskFull like any other full disk. */
function diskFullError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'ENOSPC' });
}

/** A sha256 as images.json must give it: it names a directory here, so nothing else will do. */
const SHA256 = /^[0-9a-f]{64}$/;
/** The cache's own names beside an image in its entry (never an image's file name). */
const RESERVED_NAMES = new Set(['disk.raw', 'disk.raw.partial', 'box', 'box.partial']);

function checkImageIdentity(image: { readonly sha256: string; readonly fileName: string; readonly url: string }): void {
  if (!SHA256.test(image.sha256)) throw new ImageUnusableError(`${image.url}: images.json gives no usable sha256 (${image.sha256.slice(0, 80)})`);
  // A plain file name (the one grammar: never hidden, as the cache's in-use markers are), not one of the cache's own.
  if (nameProblem('file name', image.fileName) !== null || RESERVED_NAMES.has(image.fileName)) {
    throw new ImageUnusableError(`${JSON.stringify(image.fileName.slice(0, 100))} is not a file name an image may have`);
  }
}

/** Removes a tree even where an unpacked box left directories without write or search permission. */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    await run('chmod', ['-R', 'u+rwX', path]).catch(() => undefined);
    await rm(path, { recursive: true, force: true });
  }
}

export class ImageCache {
  /** One fetch or unpack per cache entry at a time within this process. */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  readonly limits: ImageCacheLimits;

  constructor(
    readonly root: string,
    limits: Partial<ImageCacheLimits> = {},
  ) {
    this.limits = { ...DEFAULT_CACHE_LIMITS, ...limits };
  }

  /**
   * Marks an entry as in use by this process until the returned release is called: eviction,
   * here or in another worker sharing the cache, leaves it alone. Also makes it the most recent.
   */
  async use(sha256: string): Promise<() => Promise<void>> {
    if (!SHA256.test(sha256)) throw new ImageUnusableError(`no usable sha256 (${sha256.slice(0, 80)})`);
    const dir = this.entryDir(sha256);
    await mkdir(dir, { recursive: true });
    const marker = join(dir, `.in-use.${process.pid}.${Math.random().toString(36).slice(2)}`);
    await writeFile(marker, '');
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
    return () => rm(marker, { force: true });
  }

  /**
   * Evicts least recently used entries until the cache fits its budget; an entry in use (a marker
   * of a live process) is never evicted. Returns the entries removed.
   */
  async evict(): Promise<string[]> {
    if (!this.limits.budgetBytes) return [];
    const entries: { sha: string; size: number; usedAt: number; inUse: boolean }[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const dir = this.entryDir(name);
      const names = await readdir(dir).catch(() => [] as string[]);
      const inUse = names.some((n) => {
        const pid = Number(/^\.in-use\.(\d+)\./.exec(n)?.[1]);
        if (!pid) return false;
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      entries.push({ sha: name, size: await diskUsage(dir), usedAt: (await stat(dir)).mtimeMs, inUse });
    }
    let total = entries.reduce((n, e) => n + e.size, 0);
    const removed: string[] = [];
    for (const entry of entries.filter((e) => !e.inUse).sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= this.limits.budgetBytes) break;
      // One entry that will not go must not stop the others from going.
      const gone = await removeTree(this.entryDir(entry.sha)).then(() => true, () => false);
      if (!gone) continue;
      total -= entry.size;
      removed.push(entry.sha);
    }
    return removed;
  }

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
    checkImageIdentity(image);
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
    const declared = Number(response.headers['content-length']);
    if ((response.statusCode === 200 || response.statusCode === 206) && Number.isFinite(declared) && declared > image.sizeBytes - (response.statusCode === 206 ? have : 0)) {
      response.body.destroy();
      if (response.statusCode === 206) await rm(part, { force: true });
      throw new ChecksumMismatchError(`${image.url}: the server offers ${declared} bytes; images.json says the image has ${image.sizeBytes}`);
    }
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
        // Not a byte past what images.json declares: a server that sends more is cut off here.
        if (bytes > image.sizeBytes) return done(new ChecksumMismatchError(`${image.url}: the download passed the ${image.sizeBytes} bytes images.json declares`));
        const now = Date.now();
        if (options.onProgress && now - lastReport >= 1000) {
          lastReport = now;
          options.onProgress({ phase: 'download', bytes, total: image.sizeBytes, resumedFrom });
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, progress, createWriteStream(part, { flags: resumedFrom > 0 ? 'a' : 'w' }), { signal: options.signal });
    } catch (err) {
      if (err instanceof ChecksumMismatchError) await rm(part, { force: true });
      throw err;
    }
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
        await refuseQcow2References(fetched.path, this.limits.unpackBytes);
        return { kind: 'disk', path: fetched.path, format: 'qcow2' };
      case 'raw-xz': {
        const disk = join(dir, 'disk.raw');
        if (!existsSync(disk)) {
          const partial = `${disk}.partial`;
          try {
            await pipeline(xzDecompress(fetched.path), capped(this.limits.unpackBytes, `${fetched.path} decompresses`), createWriteStream(partial));
          } catch (err) {
            await removeTree(partial);
            // A full disk is this host's problem: retried (HostDiskFull), maybe elsewhere.
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw err;
            if (err instanceof ImageUnusableError) throw err;
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
          await removeTree(partial);
          await mkdir(partial, { recursive: true });
          const unpacked = await checkBoxMembers(fetched.path, this.limits.unpackBytes);
          try {
            // Only plain files and directories were listed; owners and modes are ours, not the box's.
            await run('tar', ['-xf', fetched.path, '-C', partial, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir']);
          } catch (err) {
            const message = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
            // GNU tar says "Wrote only N of M bytes" or "No space left on device"; either way, look.
            const full = /No space left on device|Wrote only \d+ of \d+ bytes/.test(message) || (await freeBytes(partial)) < Math.min(unpacked, 1024 * 1024);
            await removeTree(partial);
            if (full) throw diskFullError(`unpacking ${fetched.path}: no space left (${message.split('\n')[0]})`);
            throw new ImageUnusableError(`${fetched.path} is not a Vagrant box (tar): ${message.split('\n')[0]}`);
          }
          // A box may hold directories it made unwritable or unsearchable: ours now, so eviction can remove them.
          await run('chmod', ['-R', 'u+rwX', partial]).catch(() => undefined);
          await rename(partial, boxDir);
        }
        const metadata = BoxMetadataSchema.safeParse(JSON.parse(await readFile(join(boxDir, 'metadata.json'), 'utf8').catch(() => 'null')));
        if (!metadata.success) throw new ImageUnusableError(`${fetched.path}: the box has no valid metadata.json`);
        if (imageType === 'vagrant-libvirt') {
          if (metadata.data.provider !== 'libvirt') throw new ImageUnusableError(`${fetched.path}: a ${metadata.data.provider} box, not libvirt`);
          const disk = join(boxDir, 'box.img');
          if (!existsSync(disk)) throw new ImageUnusableError(`${fetched.path}: the libvirt box has no box.img`);
          const format = metadata.data.format === 'raw' ? 'raw' : 'qcow2';
          if (format === 'qcow2') await refuseQcow2References(disk, this.limits.unpackBytes);
          return { kind: 'disk', path: disk, format };
        }
        if (metadata.data.provider !== 'virtualbox') throw new ImageUnusableError(`${fetched.path}: a ${metadata.data.provider} box, not virtualbox`);
        const ovf = (await readdir(boxDir)).find((name) => name.endsWith('.ovf'));
        if (!ovf) throw new ImageUnusableError(`${fetched.path}: the VirtualBox box has no .ovf`);
        await refuseOvfReferences(boxDir, ovf);
        return { kind: 'ovf', path: join(boxDir, ovf) };
      }
      default:
        throw new ImageUnusableError(`image type ${imageType} cannot be booted here`);
    }
  }
}

/** Bytes an entry takes on disk (sparse raw disks count what they hold, not their length). */
async function diskUsage(path: string): Promise<number> {
  const info = await stat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.blocks * 512;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await diskUsage(join(path, name));
  return total;
}

/** Passes bytes through until `max`, then fails: decompressors must not fill the disk for a 1 KiB bomb. */
function capped(max: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) return done(new ImageUnusableError(`${what} to more than ${max} bytes`));
      done(null, chunk);
    },
  });
}

const QemuImgInfoSchema = z.looseObject({
  format: z.string(),
  'virtual-size': z.number(),
  'backing-filename': z.string().optional(),
  'full-backing-filename': z.string().optional(),
  'format-specific': z.looseObject({ data: z.looseObject({ 'data-file': z.string().optional() }).optional() }).optional(),
});

/**
 * A qcow2 may name another file (a backing file, an external data file) that qemu would open and
 * show the guest: a crafted image could read any file the hypervisor can. Such an image is refused.
 */
async function refuseQcow2References(path: string, maxVirtualBytes: number): Promise<void> {
  let info;
  try {
    // -U: no lock needed to read the header; the timeout bounds a crafted header's work.
    const { stdout } = await run('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', path], { timeout: 30_000, maxBuffer: 1024 * 1024 });
    info = QemuImgInfoSchema.parse(JSON.parse(stdout));
  } catch (err) {
    const message = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
    throw new ImageUnusableError(`${path} is not a readable qcow2: ${message}`);
  }
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  if (backing) throw new ImageUnusableError(`${path} names a backing file (${backing}): a test image must stand alone`);
  const dataFile = info['format-specific']?.data?.['data-file'];
  if (dataFile) throw new ImageUnusableError(`${path} names an external data file (${dataFile}): a test image must stand alone`);
  // The VM's overlay may grow to the disk's virtual size on this host's disk.
  if (info['virtual-size'] > maxVirtualBytes) throw new ImageUnusableError(`${path} is a ${info['virtual-size']}-byte disk, over the ${maxVirtualBytes}-byte limit`);
}

/**
 * Lists a box before unpacking it: every member must be a plain file or a directory (no symlink,
 * hard link or device), named inside the box, and all of them together within the unpack limit.
 */
async function checkBoxMembers(box: string, maxBytes: number): Promise<number> {
  let listing: string;
  try {
    listing = (await run('tar', ['-tvf', box, '--numeric-owner', '--quoting-style=escape'], { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 })).stdout;
  } catch (err) {
    throw new ImageUnusableError(`${box} is not a Vagrant box (tar): ${((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]}`);
  }
  let total = 0;
  for (const line of listing.split('\n').filter(Boolean)) {
    // GNU tar: `-rw-r--r-- 0/0 1234 2026-12-02 00:00 name` (type, mode, owner, size, date, time, name).
    // (Devices show `major,minor` where files show their size.)
    const match = /^(.)\S*\s+\S+\s+(\d+(?:,\s*\d+)?)\s+\S+\s+\S+\s+(.*)$/.exec(line);
    if (!match) throw new ImageUnusableError(`${box}: cannot read the box's listing (${line.slice(0, 100)})`);
    const [, type, size, name] = match as unknown as [string, string, string, string];
    if (type !== '-' && type !== 'd') {
      const kind = { l: 'a symbolic link', h: 'a hard link', c: 'a character device', b: 'a block device', p: 'a FIFO' }[type] ?? `a member of type ${type}`;
      throw new ImageUnusableError(`${box}: ${name} is ${kind}; a box holds only plain files and directories`);
    }
    if (name.startsWith('/') || name.split('/').includes('..')) throw new ImageUnusableError(`${box}: ${name} points outside the box`);
    total += Number(size);
    if (total > maxBytes) throw new ImageUnusableError(`${box} unpacks to more than ${maxBytes} bytes`);
  }
  return total;
}

/**
 * An appliance may name host files as well as a qcow2 can: the OVF's file references must be
 * plain names of files in the box, and a VMDK must carry its data (a descriptor-only VMDK points
 * at extent files, which could be any host file).
 */
async function refuseOvfReferences(boxDir: string, ovf: string): Promise<void> {
  const xml = await readFile(join(boxDir, ovf), 'utf8');
  const members = new Set(await readdir(boxDir));
  for (const [, href] of xml.matchAll(/\bhref\s*=\s*["']([^"']*)["']/g)) {
    if (!href || !/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(href) || !members.has(href)) {
      throw new ImageUnusableError(`${ovf} refers to ${JSON.stringify(href?.slice(0, 200))}, which is not a file of the box`);
    }
  }
  for (const name of members) {
    if (!name.endsWith('.vmdk')) continue;
    const head = Buffer.alloc(512);
    const handle = await open(join(boxDir, name), 'r');
    try {
      await handle.read(head, 0, 512, 0);
    } finally {
      await handle.close();
    }
    // Sparse and stream-optimized VMDKs start with the magic KDMV and hold their own data.
    if (head.subarray(0, 4).toString('latin1') !== 'KDMV') throw new ImageUnusableError(`${name} is a VMDK descriptor pointing at other files; a box's disks must hold their own data`);
  }
}

/** Free bytes on the filesystem holding `path` (for telling a full disk from a broken archive). */
async function freeBytes(path: string): Promise<number> {
  const info = await statfs(path).catch(() => null);
  return info ? info.bavail * info.bsize : Number.POSITIVE_INFINITY;
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
  // A bounded decoder: a crafted stream cannot ask xz for gigabytes of dictionary.
  const child = spawn('xz', ['--decompress', '--stdout', '--memlimit-decompress=256MiB', file], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  // A pipeline that fails (a cap, a full disk) destroys this stream: xz must not go on reading.
  checked.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdout.on('error', (err) => checked.destroy(err));
  exited.catch((err: Error) => checked.destroy(err));
  return checked;
}
