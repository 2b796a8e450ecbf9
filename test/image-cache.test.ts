/**
 * Image downloads against the sandbox's compose server over real HTTP: sha256 checked while
 * streaming, a partial file resumed with Range, the cache by checksum, and the formats unpacked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, truncateSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createImageTestActivities, HOST_DISK_FULL, type TestImageInput } from '../activities/image-test.js';
import { ChecksumMismatchError, ImageCache, ImageNotServedError, type DownloadProgress } from '../activities/image-cache.js';
import { ensureTestImage, ensureTestImageArtifacts, testImageFileFor, type TestImageArtifacts } from '../devstack/test-image.js';
import { newCompose, startTestSandbox, type NewCompose, type TestSandbox } from './helpers/sandbox.js';
import { withTinyDisk } from './helpers/tiny-disk.js';

let sandbox: TestSandbox;
let artifacts: TestImageArtifacts;
let compose: NewCompose;

interface Entry {
  url: string;
  sha256: string;
  sizeBytes: number;
  fileName: string;
  type: string;
}

function entries(): Entry[] {
  const images = JSON.parse(readFileSync(join(compose.dir, 'compose/metadata/images.json'), 'utf8')) as {
    payload: { images: Record<string, Record<string, { path: string; size: number; type: string; checksums: { sha256: string } }[]>> };
  };
  return Object.values(images.payload.images).flatMap((arches) =>
    Object.values(arches).flatMap((list) =>
      list.map((i) => ({ url: `${compose.location}/${i.path}`, sha256: i.checksums.sha256, sizeBytes: i.size, fileName: i.path.split('/').pop()!, type: i.type })),
    ),
  );
}
const entry = (type: string) => entries().find((e) => e.type === type)!;
const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('image cache: streamed, verified, resumable downloads', () => {
  before(async () => {
    [sandbox, artifacts] = await Promise.all([startTestSandbox({ withBus: false }), ensureTestImageArtifacts()]);
    compose = newCompose(sandbox, {
      template: 'Fedora-28-20180425.0',
      keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64',
      contentFor: (_variant, image) => readFileSync(testImageFileFor(artifacts, image.type)!),
    });
  });
  after(async () => sandbox.stop());

  it('downloads once with the checksum checked, then serves from the cache', async () => {
    const cache = new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-')));
    const image = entry('qcow2');
    const progress: DownloadProgress[] = [];
    const first = await cache.fetch(image, { timeoutMs: 10_000, onProgress: (p) => progress.push(p) });
    assert.deepEqual({ fromCache: first.fromCache, resumedFrom: first.resumedFrom, transferred: first.transferred, bytes: first.bytes }, { fromCache: false, resumedFrom: 0, transferred: image.sizeBytes, bytes: image.sizeBytes });
    assert.equal(sha256Of(first.path), image.sha256);
    assert.equal(first.path, join(cache.root, image.sha256, image.fileName));
    assert.deepEqual(progress.at(-1), { phase: 'download', bytes: image.sizeBytes, total: image.sizeBytes, resumedFrom: 0 });
    const second = await cache.fetch(image, { timeoutMs: 10_000 });
    assert.deepEqual({ fromCache: second.fromCache, transferred: second.transferred, path: second.path }, { fromCache: true, transferred: 0, path: first.path });
  });

  it('resumes an interrupted download with a Range request and still checks the whole file', async () => {
    const cache = new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-')));
    const image = entry('raw-xz');
    // What an attempt killed midway leaves: the first part of the file under partial/.
    const half = Math.floor(image.sizeBytes / 2);
    const partial = cache.partialPath(image.sha256);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(cache.root, 'partial'), { recursive: true }));
    copyFileSync(join(compose.dir, 'compose', image.url.slice(compose.location.length + 1)), partial);
    truncateSync(partial, half);
    const fetched = await cache.fetch(image, { timeoutMs: 10_000 });
    assert.deepEqual({ resumedFrom: fetched.resumedFrom, transferred: fetched.transferred }, { resumedFrom: half, transferred: image.sizeBytes - half });
    assert.equal(sha256Of(fetched.path), image.sha256);
    assert.equal(existsSync(partial), false);
  });

  it('refuses bytes that do not match images.json, keeping nothing of them', async () => {
    const cache = new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-')));
    const image = { ...entry('qcow2'), sha256: 'f'.repeat(64) };
    await assert.rejects(cache.fetch(image, { timeoutMs: 10_000 }), (err: unknown) => {
      assert.ok(err instanceof ChecksumMismatchError);
      assert.match(err.message, new RegExp(`got ${image.sizeBytes} bytes with sha256 [0-9a-f]{64}; images.json says ${image.sizeBytes} bytes with sha256 f{64}`));
      return true;
    });
    assert.equal(existsSync(cache.partialPath(image.sha256)), false);
    assert.equal(existsSync(cache.entryDir(image.sha256)), false);
    // A partial file that is not a prefix of the image is thrown away on the next attempt.
    writeFileSync(cache.partialPath(entry('qcow2').sha256), Buffer.alloc(1000, 7));
    const good = await cache.fetch(entry('qcow2'), { timeoutMs: 10_000 }).catch((err: unknown) => err);
    assert.ok(good instanceof ChecksumMismatchError, 'the bad prefix fails the check once');
    const retried = await cache.fetch(entry('qcow2'), { timeoutMs: 10_000 });
    assert.equal(retried.resumedFrom, 0);
    assert.equal(sha256Of(retried.path), entry('qcow2').sha256);
  });

  it('says so when the server does not have the image', async () => {
    const cache = new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-')));
    const image = { ...entry('qcow2'), url: `${compose.location}/Cloud/x86_64/images/missing.qcow2` };
    await assert.rejects(cache.fetch(image, { timeoutMs: 10_000 }), (err: unknown) => err instanceof ImageNotServedError && /HTTP 404/.test(err.message));
  });

  it('unpacks raw.xz and Vagrant boxes into bootable disks, once', async () => {
    const cache = new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-')));
    const testImage = await ensureTestImage();
    const raw = await cache.bootDisk(await cache.fetch(entry('raw-xz'), { timeoutMs: 10_000 }), 'raw-xz');
    assert.equal(raw.kind === 'disk' && raw.format, 'raw');
    assert.equal(sha256Of(raw.path), sha256Of(testImage.raw));
    const mtime = statSync(raw.path).mtimeMs;
    await cache.bootDisk(await cache.fetch(entry('raw-xz'), { timeoutMs: 10_000 }), 'raw-xz');
    assert.equal(statSync(raw.path).mtimeMs, mtime, 'not decompressed twice');

    const libvirt = await cache.bootDisk(await cache.fetch(entry('vagrant-libvirt'), { timeoutMs: 10_000 }), 'vagrant-libvirt');
    assert.equal(libvirt.kind === 'disk' && libvirt.format, 'qcow2');
    assert.equal(sha256Of(libvirt.path), sha256Of(testImage.qcow2));
    const vbox = await cache.bootDisk(await cache.fetch(entry('vagrant-virtualbox'), { timeoutMs: 10_000 }), 'vagrant-virtualbox');
    assert.equal(vbox.kind, 'ovf');
    assert.match(readFileSync(vbox.path, 'utf8'), /ovf:href="box-disk1.vmdk"/);
  });

  it('a full disk on the host is the host\'s fault: the job fails retryably, saying so', async (t) => {
    // A 4 MiB tmpfs as the image cache.
    await withTinyDisk(t, '4m', async (tiny) => {
      const activities = createImageTestActivities({ workRoot: mkdtempSync(join(tmpdir(), 'relengotron-vms-')), cache: new ImageCache(tiny) });
      const image = entry('qcow2');
      const env = new MockActivityEnvironment();
      await assert.rejects(
        env.run((i: TestImageInput) => activities.testImage(i), {
          jobId: 1, provider: 'libvirt' as const, downloadTimeoutMs: 10_000,
          image: { url: image.url, sha256: image.sha256, sizeBytes: image.sizeBytes, fileName: image.fileName, type: 'qcow2' },
          plan: 'true', user: 'fedora', memoryMb: 256, commandTimeoutMs: 10_000, bootTimeoutMs: 10_000, pollAttempts: 1, pollIntervalMs: 1000,
        }),
        (err: unknown) => {
          assert.ok(err instanceof ApplicationFailure);
          assert.equal(err.type, HOST_DISK_FULL);
          assert.equal(err.nonRetryable, false);
          assert.match(err.message, /^no space left for the image on \S+: ENOSPC/);
          return true;
        },
      );
    });
  });
});
