import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveImageUrl } from '../activities/compose-server.js';
import { ComposeInfoSchema, ImagesJsonSchema } from '../common/schemas/productmd.js';
import { FIXTURE_COMPOSES_DIR } from '../sandbox/seed.js';

const read = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

describe('productmd schemas', () => {
  const composes = readdirSync(FIXTURE_COMPOSES_DIR).filter((c) => c !== 'Fedora-Rawhide-20180426.n.0');

  for (const compose of composes) {
    it(`accept the real metadata of ${compose}`, () => {
      const images = ImagesJsonSchema.parse(read(join(FIXTURE_COMPOSES_DIR, compose, 'compose/metadata/images.json')));
      const info = ComposeInfoSchema.parse(read(join(FIXTURE_COMPOSES_DIR, compose, 'compose/metadata/composeinfo.json')));
      assert.equal(images.payload.compose.id, compose);
      assert.equal(info.payload.compose.id, compose);
      assert.ok(Object.keys(images.payload.images).length > 0);
    });
  }

  it('say where broken metadata is broken', () => {
    const images = read(join(FIXTURE_COMPOSES_DIR, 'Fedora-Cloud-27-20180317.0/compose/metadata/images.json')) as {
      payload: { images: { CloudImages: { x86_64: { size: unknown }[] } } };
    };
    images.payload.images.CloudImages.x86_64[0]!.size = 'big';
    const result = ImagesJsonSchema.safeParse(images);
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['payload', 'images', 'CloudImages', 'x86_64', 0, 'size']);
  });

  it('resolve image paths under the compose and refuse ones that leave it', () => {
    const location = 'https://kojipkgs.fedoraproject.org/compose/rawhide/Fedora-Rawhide-20261123.n.0/compose';
    assert.equal(
      resolveImageUrl(location, 'Cloud/x86_64/images/Fedora-Cloud-Base-Rawhide-20261123.n.0.x86_64.qcow2'),
      `${location}/Cloud/x86_64/images/Fedora-Cloud-Base-Rawhide-20261123.n.0.x86_64.qcow2`,
    );
    for (const bad of ['../../../etc/passwd', '/etc/passwd', 'https://evil.example.org/x.qcow2', 'Cloud/../../other/x.qcow2', '//evil.example.org/x']) {
      assert.throws(() => resolveImageUrl(location, bad), /escapes the compose tree/, bad);
    }
  });
});
