/**
 * Makes new Pungi compose trees from a real compose's metadata: same variants, image types and
 * paths, a new compose ID and date, and image files whose sizes and sha256 sums in images.json
 * match the bytes served. Tests and the demo use it for "a compose that just finished".
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ComposeInfo, ImagesJson, ProductmdImage } from '../common/schemas/productmd.js';

export interface ComposeSpec {
  /** A compose tree to take metadata from (e.g. the real Fedora-28-20180425.0). */
  readonly templateDir: string;
  /** Where the new tree goes: `<root>/<composeId>/`. */
  readonly root: string;
  readonly release: { readonly short: string; readonly version: string; readonly name?: string };
  readonly date: string;
  readonly type: 'nightly' | 'production' | 'test' | 'ci';
  readonly respin: number;
  /** Which template images to keep (default: all). */
  readonly keepImage?: (variant: string, image: ProductmdImage) => boolean;
  /** The bytes of each image file; default: deterministic filler of 64 KiB, named after the image. */
  readonly contentFor?: (variant: string, image: ProductmdImage) => Buffer | undefined;
  readonly status?: string;
}

const TYPE_SUFFIX: Readonly<Record<ComposeSpec['type'], string>> = { nightly: '.n', test: '.t', ci: '.ci', production: '' };

export function composeIdFor(spec: Pick<ComposeSpec, 'release' | 'date' | 'type' | 'respin'>): string {
  return `${spec.release.short}-${spec.release.version}-${spec.date}${TYPE_SUFFIX[spec.type]}.${spec.respin}`;
}

/** Deterministic bytes standing in for an image file the sandbox has no real image for. */
export function filler(label: string, size = 64 * 1024): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(label).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export interface MaterializedCompose {
  readonly composeId: string;
  readonly dir: string;
  readonly imageCount: number;
}

export function materializeCompose(spec: ComposeSpec): MaterializedCompose {
  const composeId = composeIdFor(spec);
  const dir = join(spec.root, composeId);
  const header = { id: composeId, date: spec.date, respin: spec.respin, type: spec.type };
  const template = JSON.parse(readFileSync(join(spec.templateDir, 'compose/metadata/images.json'), 'utf8')) as ImagesJson;
  const info = JSON.parse(readFileSync(join(spec.templateDir, 'compose/metadata/composeinfo.json'), 'utf8')) as ComposeInfo;
  const rename = (path: string) =>
    path.replaceAll(template.payload.compose.id, composeId).replace(/-\d+-\d+\.\d+\./, `-${spec.release.version}-${spec.date}${TYPE_SUFFIX[spec.type]}.${spec.respin}.`);

  const images: ImagesJson['payload']['images'] = {};
  let count = 0;
  for (const [variant, arches] of Object.entries(template.payload.images)) {
    for (const [arch, list] of Object.entries(arches)) {
      for (const image of list) {
        if (spec.keepImage && !spec.keepImage(variant, image)) continue;
        const path = rename(image.path);
        const bytes = spec.contentFor?.(variant, { ...image, path }) ?? filler(`${composeId}/${path}`);
        const file = join(dir, 'compose', path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, bytes);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        writeFileSync(join(dirname(file), `${composeId}-${variant}-${arch}-CHECKSUM`), `# ${path.split('/').pop()}: ${bytes.length} bytes\nSHA256 (${path.split('/').pop()}) = ${sha256}\n`, { flag: 'a' });
        ((images[variant] ??= {})[arch] ??= []).push({
          ...image,
          path,
          size: bytes.length,
          checksums: { sha256 },
          mtime: Math.floor(Date.now() / 1000),
        });
        count++;
      }
    }
  }
  const variants = Object.fromEntries(Object.entries(info.payload.variants).filter(([uid]) => uid in images));
  mkdirSync(join(dir, 'compose/metadata'), { recursive: true });
  writeFileSync(
    join(dir, 'compose/metadata/images.json'),
    JSON.stringify({ header: { type: 'productmd.images', version: '1.2' }, payload: { compose: header, images } }, null, 4),
  );
  writeFileSync(
    join(dir, 'compose/metadata/composeinfo.json'),
    JSON.stringify(
      {
        header: { type: 'productmd.composeinfo', version: '1.2' },
        payload: {
          compose: { ...header, label: null, final: false },
          release: { ...info.payload.release, short: spec.release.short, version: spec.release.version, name: spec.release.name ?? info.payload.release.name },
          variants,
        },
      },
      null,
      4,
    ),
  );
  writeFileSync(join(dir, 'STATUS'), `${spec.status ?? 'FINISHED'}\n`);
  writeFileSync(join(dir, 'COMPOSE_ID'), `${composeId}\n`);
  return { composeId, dir, imageCount: count };
}
