/**
 * Hostile images cannot reach the host. Each case is a crafted image, served over real HTTP
 * with a checksum that matches (the compose metadata is on the attacker's side too), put through
 * the image host's own code: qcow2 files that name host files, Vagrant boxes with links, devices
 * and paths out of the box, servers that send more than declared, decompression bombs, a disk that
 * fills while unpacking, a cache over its budget, and a guest that tries to reach the host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { listenLocally, type LocalServer } from './helpers/local-server.js';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { HostAccelerator } from '../activities/accelerator.js';
import { ChecksumMismatchError, ImageCache, ImageUnusableError } from '../activities/image-cache.js';
import { createImageTestActivities, HOST_DISK_FULL, type RunImageTestInput, type RunImageTestResult, type TestImageInput } from '../activities/image-test.js';
import { consoleTail } from '../activities/vm.js';
import { ensureTestImage } from '../devstack/test-image.js';
import { withTinyDisk } from './helpers/tiny-disk.js';

const scratch = mkdtempSync(join(tmpdir(), 'relengotron-hostile-'));
const served = new Map<string, { body: Buffer; declareLength?: number; chunked?: boolean }>();
let server: LocalServer;
let base = '';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sh = (cmd: string, args: string[], cwd = scratch) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** Serves a crafted file and returns what images.json would say of it. */
function serve(name: string, body: Buffer, options: { declaredSize?: number; declareLength?: number; chunked?: boolean } = {}) {
  served.set(`/${name}`, { body, ...(options.declareLength !== undefined ? { declareLength: options.declareLength } : {}), ...(options.chunked ? { chunked: true } : {}) });
  return { url: `${base}/${name}`, sha256: sha256(body), sizeBytes: options.declaredSize ?? body.length, fileName: name };
}

/** A tar made by Python's tarfile, which writes any member type without root. */
function craftTar(name: string, members: string, compression: '' | 'gz' = ''): Buffer {
  const path = join(scratch, name);
  sh('/usr/bin/python3', ['-c', `
import io, tarfile
t = tarfile.open(${JSON.stringify(path)}, "w${compression ? `:${compression}` : ''}")
def add(info, data=b""):
    info.size = len(data)
    t.addfile(info, io.BytesIO(data) if data else None)
m = tarfile.TarInfo("metadata.json"); add(m, b'{"provider": "libvirt", "format": "qcow2"}')
${members}
t.close()
`]);
  return readFileSync(path);
}

const fetchAndUnpack = async (cache: ImageCache, image: ReturnType<typeof serve>, type: string) => cache.bootDisk(await cache.fetch(image, { timeoutMs: 10_000 }), type);
const unusable = (message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ImageUnusableError, String(err));
  assert.match(err.message, message);
  return true;
};
const newCache = (limits: ConstructorParameters<typeof ImageCache>[1] = {}) => new ImageCache(mkdtempSync(join(scratch, 'cache-')), limits);

describe('hostile images cannot reach the host', () => {
  before(async () => {
    server = await listenLocally(
      createHttpServer((req, res) => {
        const file = served.get(req.url ?? '');
        if (!file) return void res.writeHead(404).end();
        res.writeHead(200, file.chunked ? {} : { 'content-length': String(file.declareLength ?? file.body.length) });
        res.end(file.body);
      }),
    );
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('refuses a qcow2 that names a backing file or an external data file', async () => {
    writeFileSync(join(scratch, 'secret'), 'the host\'s secret\n');
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(scratch, 'secret'), '-F', 'raw', 'backed.qcow2', '1M']);
    await assert.rejects(fetchAndUnpack(newCache(), serve('backed.qcow2', readFileSync(join(scratch, 'backed.qcow2'))), 'qcow2'), unusable(/names a backing file \(.*secret\): a test image must stand alone/));
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(scratch, 'data.bin')},data_file_raw=on`, 'datafile.qcow2', '1M']);
    await assert.rejects(fetchAndUnpack(newCache(), serve('datafile.qcow2', readFileSync(join(scratch, 'datafile.qcow2'))), 'qcow2'), unusable(/names an external data file \(.*data\.bin\)/));
    // Served as a qcow2 but not one at all.
    await assert.rejects(fetchAndUnpack(newCache(), serve('fake.qcow2', Buffer.from('not a disk at all')), 'qcow2'), unusable(/is not a readable qcow2/));
    // Inside a Vagrant box too.
    const box = craftTar('backed.box', `t.add(${JSON.stringify(join(scratch, 'backed.qcow2'))}, arcname="box.img")`);
    await assert.rejects(fetchAndUnpack(newCache(), serve('backed.box', box), 'vagrant-libvirt'), unusable(/box\.img names a backing file/));
  });

  it('refuses a disk larger than the unpack limit, and a VirtualBox box that names host files', async () => {
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'huge.qcow2', '1T']);
    await assert.rejects(fetchAndUnpack(newCache({ unpackBytes: 64 * 1024 ** 3 }), serve('huge.qcow2', readFileSync(join(scratch, 'huge.qcow2'))), 'qcow2'), unusable(/is a 1099511627776-byte disk, over the 68719476736-byte limit/));
    const vbox = (ovfHref: string, vmdk: string) => `
m = tarfile.TarInfo("metadata.json"); add(m, b'{"provider": "virtualbox"}')
o = tarfile.TarInfo("box.ovf"); add(o, b'<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="file1" ovf:href="${ovfHref}"/></References></Envelope>')
d = tarfile.TarInfo("box-disk1.vmdk"); add(d, ${vmdk})`;
    const descriptor = 'b"# Disk DescriptorFile\\nversion=1\\nRW 2048 FLAT \\"/etc/shadow\\" 0\\n"';
    const sparse = 'b"KDMV" + b"\\0" * 508';
    await assert.rejects(fetchAndUnpack(newCache(), serve('href.box', craftTar('href.box', vbox('/etc/shadow', sparse))), 'vagrant-virtualbox'), unusable(/box\.ovf refers to "\/etc\/shadow", which is not a file of the box/));
    await assert.rejects(fetchAndUnpack(newCache(), serve('descriptor.box', craftTar('descriptor.box', vbox('box-disk1.vmdk', descriptor))), 'vagrant-virtualbox'), unusable(/box-disk1\.vmdk is a VMDK descriptor pointing at other files/));
    const ok = await fetchAndUnpack(newCache(), serve('fine.box', craftTar('fine.box', vbox('box-disk1.vmdk', sparse))), 'vagrant-virtualbox');
    assert.equal(ok.kind, 'ovf');
  });

  it('keeps a guest\'s console safe to store and show (NUL, escapes)', async () => {
    const log = join(scratch, 'serial.log');
    writeFileSync(log, 'booting\n\u0000\u001b[2Jgone\n');
    assert.equal(await consoleTail(log), 'booting\n\\u0000\\u001b[2Jgone\n');
  });

  it('refuses a box with a symlink, a hard link, a device, or a path out of the box, before unpacking anything', async () => {
    const cases: [string, string, RegExp][] = [
      ['symlink', 'i = tarfile.TarInfo("box.img"); i.type = tarfile.SYMTYPE; i.linkname = "/etc/shadow"; add(i)', /box\.img.* is a symbolic link/],
      ['hardlink', 'i = tarfile.TarInfo("box.img"); i.type = tarfile.LNKTYPE; i.linkname = "metadata.json"; add(i)', /box\.img.* is a hard link/],
      ['device', 'i = tarfile.TarInfo("box.img"); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; add(i)', /box\.img is a character device/],
      ['fifo', 'i = tarfile.TarInfo("box.img"); i.type = tarfile.FIFOTYPE; add(i)', /box\.img is a FIFO/],
      ['climb', 'i = tarfile.TarInfo("../../escaped"); add(i, b"x")', /\.\.\/\.\.\/escaped points outside the box/],
      ['absolute', 'i = tarfile.TarInfo("/tmp/escaped"); add(i, b"x")', /\/tmp\/escaped points outside the box/],
    ];
    for (const [name, member, reason] of cases) {
      const cache = newCache();
      const image = serve(`${name}.box`, craftTar(`${name}.box`, member));
      await assert.rejects(fetchAndUnpack(cache, image, 'vagrant-libvirt'), unusable(reason), name);
      assert.equal(existsSync(join(cache.entryDir(image.sha256), 'box')), false, `${name}: nothing unpacked`);
    }
    assert.equal(existsSync('/tmp/escaped'), false);
  });

  it('stops a download as soon as it passes the declared size, whatever the server says', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    // The server declares the real length, which is more than images.json says: refused unread.
    await assert.rejects(newCache().fetch(serve('long.qcow2', body, { declaredSize: 1024 }), { timeoutMs: 10_000 }), (err: unknown) => err instanceof ChecksumMismatchError && /the server offers 2097152 bytes; images\.json says the image has 1024/.test(err.message));
    // No length at all (chunked): cut off at the declared size.
    const cache = newCache();
    const image = serve('chunked.qcow2', body, { declaredSize: 1024, chunked: true });
    await assert.rejects(cache.fetch(image, { timeoutMs: 10_000 }), (err: unknown) => err instanceof ChecksumMismatchError && /passed the 1024 bytes images\.json declares/.test(err.message));
    assert.equal(existsSync(cache.partialPath(image.sha256)), false, 'the partial file is gone');
  });

  it('caps what xz and tar may unpack to (decompression bombs)', async () => {
    writeFileSync(join(scratch, 'zeros.raw'), Buffer.alloc(64 * 1024 * 1024));
    sh('xz', ['-k', '-1', '-f', 'zeros.raw']);
    const bomb = readFileSync(join(scratch, 'zeros.raw.xz'));
    assert.ok(bomb.length < 64 * 1024, `${bomb.length} bytes of xz`);
    const cache = newCache({ unpackBytes: 8 * 1024 * 1024 });
    const image = serve('bomb.raw.xz', bomb);
    await assert.rejects(fetchAndUnpack(cache, image, 'raw-xz'), unusable(/decompresses to more than 8388608 bytes/));
    assert.equal(existsSync(join(cache.entryDir(image.sha256), 'disk.raw.partial')), false);
    const tarBomb = craftTar('huge.box', 'i = tarfile.TarInfo("box.img"); add(i, b"\\0" * (16 * 1024 * 1024))');
    await assert.rejects(fetchAndUnpack(newCache({ unpackBytes: 8 * 1024 * 1024 }), serve('huge.box', tarBomb), 'vagrant-libvirt'), unusable(/unpacks to more than 8388608 bytes/));
  });

  it('a disk that fills while unpacking is the host\'s fault (HostDiskFull, retryable), not an unusable image', async (t) => {
    const disk = Buffer.concat([Buffer.alloc(6 * 1024 * 1024, 7), Buffer.from('end')]);
    writeFileSync(join(scratch, 'full.raw'), disk);
    sh('xz', ['-k', '-1', '-f', 'full.raw']);
    const compressed = readFileSync(join(scratch, 'full.raw.xz'));
    const box = craftTar('full.box', 'i = tarfile.TarInfo("box.img"); add(i, b"\\1" * (6 * 1024 * 1024))', 'gz');
    for (const [file, body, type] of [['full.raw.xz', compressed, 'raw-xz'], ['full.box', box, 'vagrant-libvirt']] as const) {
      await withTinyDisk(t, '4m', async (tiny) => {
        const activities = createImageTestActivities({ workRoot: mkdtempSync(join(scratch, 'vms-')), cache: new ImageCache(tiny), accelerator: new HostAccelerator({ qemu: 'qemu-system-x86_64', mode: 'off' }) });
        const image = serve(file, body);
        await assert.rejects(
          new MockActivityEnvironment().run((i: TestImageInput) => activities.testImage(i), {
            jobId: 1, provider: 'libvirt' as const, downloadTimeoutMs: 10_000, image: { ...image, type },
            plan: 'true', user: 'fedora', memoryMb: 64, commandTimeoutMs: 5_000, bootTimeoutMs: 5_000, pollAttempts: 1, pollIntervalMs: 1000,
          }),
          (err: unknown) => {
            assert.ok(err instanceof ApplicationFailure, String(err));
            assert.equal(err.type, HOST_DISK_FULL, `${type}: ${err.message}`);
            assert.equal(err.nonRetryable, false);
            return true;
          },
        );
      });
    }
  });

  it('keeps the cache within its budget, least recently used first, never an image in use', async () => {
    const cache = newCache({ budgetBytes: 5 * 1024 * 1024 });
    const images = [0, 1, 2].map((n) => serve(`budget-${n}.qcow2`, Buffer.alloc(2 * 1024 * 1024, n + 1)));
    const releaseFirst = await cache.use(images[0]!.sha256);
    for (const image of images) {
      const release = image === images[0] ? () => Promise.resolve() : await cache.use(image.sha256);
      await cache.fetch(image, { timeoutMs: 10_000 });
      await release();
      await new Promise((r) => setTimeout(r, 20));
    }
    // 6 MiB in three entries over a 5 MiB budget: the oldest not in use goes (the second image).
    assert.deepEqual(await cache.evict(), [images[1]!.sha256]);
    assert.ok(existsSync(cache.entryDir(images[0]!.sha256)), 'the image in use stays');
    await releaseFirst();
    await cache.use(images[2]!.sha256).then((release) => release());
    const third = serve('budget-3.qcow2', Buffer.alloc(2 * 1024 * 1024, 9));
    await cache.fetch(third, { timeoutMs: 10_000 });
    assert.deepEqual(await cache.evict(), [images[0]!.sha256], 'now the first, least recently used, goes');
    assert.ok(existsSync(cache.entryDir(images[2]!.sha256)));
  });

  it('the guest reaches neither the host nor any network: only the SSH forward gets in', async () => {
    const image = await ensureTestImage();
    let reached = 0;
    const listener = createTcpServer((socket) => {
      reached++;
      socket.end('hello from the host\n');
    });
    const local = await listenLocally(listener);
    const port = local.port;
    try {
      const activities = createImageTestActivities({ workRoot: mkdtempSync(join(scratch, 'vms-')), cache: newCache(), accelerator: new HostAccelerator({ qemu: 'qemu-system-x86_64', mode: 'auto' }) });
      // 10.0.2.2 is the host's loopback under qemu's user networking, unless the guest is restricted.
      const plan = `cat /proc/net/route\n## nc -w 5 10.0.2.2 ${port} </dev/null\n## wget -T 5 -q -O - http://10.0.2.2:${port}/\n## nc -w 5 10.0.2.3 53 </dev/null`;
      const result: RunImageTestResult = await new MockActivityEnvironment().run((i: RunImageTestInput) => activities.runImageTest(i), {
        jobId: `restricted-${Date.now()}`, image: image.qcow2, format: 'qcow2' as const, plan, user: 'fedora', memoryMb: 256,
        commandTimeoutMs: 30_000, bootTimeoutMs: 180_000, pollAttempts: 10, pollIntervalMs: 2_000,
      });
      assert.equal(result.outcomes[0]!.exitCode, 0, 'the guest is up and its network configured');
      for (const outcome of result.outcomes.slice(1)) {
        assert.doesNotMatch(outcome.output, /not found|applet/, `${outcome.command}: the tool ran`);
        assert.notEqual(outcome.exitCode, 0, `${outcome.command} must fail: ${outcome.output}`);
      }
      assert.equal(reached, 0, 'nothing from the guest reached the host');
    } finally {
      await local.close();
    }
  });
});
