/**
 * The VM image compose tests boot, built by test-image/build.sh from Debian packages and cached
 * under ~/.cache/releng-o-tron by the hash of its sources, so it is built once per machine
 * (about 10 s plus a 70 MB kernel download) and rebuilt when the recipe changes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RECIPE_DIR = fileURLToPath(new URL('../../test-image/', import.meta.url));
const RECIPE_FILES = ['build.sh', 'init', 'udhcpc.script'];

export interface TestImage {
  readonly raw: string;
  readonly qcow2: string;
  /** Debian package names and versions it was built from. */
  readonly packages: string;
}

let building: Promise<TestImage> | undefined;

export function ensureTestImage(cacheRoot = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'releng-o-tron')): Promise<TestImage> {
  building ??= (async () => {
    const hash = createHash('sha256');
    for (const file of RECIPE_FILES) hash.update(readFileSync(join(RECIPE_DIR, file)));
    const dir = join(cacheRoot, `test-image-${hash.digest('hex').slice(0, 12)}`);
    const image = { raw: join(dir, 'disk.raw'), qcow2: join(dir, 'disk.qcow2'), packages: join(dir, 'packages.txt') };
    if (existsSync(image.qcow2)) return image;
    const partial = `${dir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    try {
      await run('bash', [join(RECIPE_DIR, 'build.sh'), partial], { maxBuffer: 16 * 1024 * 1024 });
      await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', join(partial, 'disk.raw'), join(partial, 'disk.qcow2')]);
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw new Error(`building the test VM image failed: ${(err as Error).message}`);
    }
    return image;
  })();
  return building;
}
