/** The pure parts of compose testing: selection rules, Autocloud's names, stream order, message shapes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareComposeIds, composeStream, DEFAULT_SELECTION_RULES, imageFamily, imageName, selectImages } from '../common/compose-testing.js';
import { ConfigError, loadConfig } from '../common/config.js';
import { outgoingMessageProblems } from '../common/schemas/outgoing.js';
import { ImagesJsonSchema } from '../common/schemas/productmd.js';

const FIXTURES = fileURLToPath(new URL('../../sandbox/fixtures/', import.meta.url));

function imagesOf(compose: string) {
  const json = ImagesJsonSchema.parse(JSON.parse(readFileSync(join(FIXTURES, 'composes', compose, 'compose/metadata/images.json'), 'utf8')));
  return Object.entries(json.payload.images).flatMap(([variant, arches]) =>
    Object.entries(arches).flatMap(([arch, list]) => list.map((i) => ({ variant, arch, type: i.type, subvariant: i.subvariant ?? null, path: i.path }))),
  );
}

describe('compose testing rules', () => {
  it("chooses Autocloud's images from the real Fedora 28 compose: cloud and atomic, PC arches, boxes on their own provider", () => {
    const chosen = selectImages(imagesOf('Fedora-28-20180425.0'), DEFAULT_SELECTION_RULES).map((s) => `${s.image.path.split('/').pop()}@${s.provider}`);
    assert.deepEqual(chosen.sort(), [
      'Fedora-AtomicHost-28-1.1.x86_64.qcow2@libvirt',
      'Fedora-AtomicHost-28-1.1.x86_64.raw.xz@libvirt',
      'Fedora-AtomicHost-Vagrant-28-1.1.x86_64.vagrant-libvirt.box@libvirt',
      'Fedora-AtomicHost-Vagrant-28-1.1.x86_64.vagrant-virtualbox.box@vbox',
      'Fedora-Cloud-Base-28-1.1.x86_64.qcow2@libvirt',
      'Fedora-Cloud-Base-28-1.1.x86_64.raw.xz@libvirt',
      'Fedora-Cloud-Base-Vagrant-28-1.1.x86_64.vagrant-libvirt.box@libvirt',
      'Fedora-Cloud-Base-Vagrant-28-1.1.x86_64.vagrant-virtualbox.box@vbox',
    ]);
  });

  it('reads the Fedora 27 layout (CloudImages variant) too', () => {
    const chosen = selectImages(imagesOf('Fedora-Cloud-27-20180317.0'), DEFAULT_SELECTION_RULES);
    assert.ok(chosen.length > 0);
    assert.ok(chosen.every((s) => s.image.variant === 'CloudImages'));
  });

  it("names images and families as Autocloud did", () => {
    assert.equal(imageName('Cloud/x86_64/images/Fedora-Cloud-Base-28-1.1.x86_64.qcow2', 'x86_64'), 'Fedora-Cloud-Base-28-1.1');
    assert.equal(imageFamily('Cloud_Base'), 'Base');
    assert.equal(imageFamily('AtomicHost'), 'Atomic');
    assert.equal(imageFamily('Atomic'), 'Atomic');
  });

  it('orders composes of a stream by date and respin', () => {
    assert.equal(composeStream('Fedora-Rawhide-20261123.n.0'), 'Fedora-Rawhide');
    assert.equal(composeStream('Fedora-28-20180425.0'), 'Fedora-28');
    assert.equal(composeStream('not a compose'), null);
    assert.ok(compareComposeIds('Fedora-Rawhide-20261123.n.0', 'Fedora-Rawhide-20261123.n.1') < 0);
    assert.ok(compareComposeIds('Fedora-Rawhide-20261122.n.3', 'Fedora-Rawhide-20261123.n.0') < 0);
    assert.ok(compareComposeIds('Fedora-Rawhide-20261124.n.0', 'Fedora-Rawhide-20261123.n.9') > 0);
  });

  it('refuses a configuration whose plan a host could not run, or a rule without a plan', () => {
    assert.throws(
      () => loadConfig({ RELENGOTRON_COMPOSE_TESTING: JSON.stringify({ plans: { qcow2: { plan: 'HOSTCOMMAND: rm -rf /' } }, rules: [] }) }),
      (err: unknown) => err instanceof ConfigError && /composeTesting.plans.qcow2.plan \(from RELENGOTRON_COMPOSE_TESTING\): line 1: HOSTCOMMAND is not supported/.test(err.message),
    );
    assert.throws(
      () => loadConfig({ RELENGOTRON_COMPOSE_TESTING: JSON.stringify({ plans: {}, rules: [{ variants: ['Cloud'], arches: ['x86_64'], types: ['qcow2'], provider: 'libvirt' }] }) }),
      /composeTesting.plans \(from RELENGOTRON_COMPOSE_TESTING\): every image type a rule selects needs a plan/,
    );
  });

  it("accepts Autocloud's real message bodies under its topics, and refuses what does not fit", () => {
    for (const name of ['image.queued', 'image.running', 'image.success', 'image.failed', 'image.aborted', 'compose.queued', 'compose.running', 'compose.complete']) {
      const sample = JSON.parse(readFileSync(join(FIXTURES, 'messages', `autocloud.${name}.json`), 'utf8')) as { msg: Record<string, unknown> };
      assert.deepEqual(outgoingMessageProblems(`autocloud.${name}`, sample.msg), [], name);
    }
    const sample = JSON.parse(readFileSync(join(FIXTURES, 'messages', 'autocloud.image.success.json'), 'utf8')) as { msg: Record<string, unknown> };
    assert.deepEqual(outgoingMessageProblems('autocloud.image.success', { ...sample.msg, job_id: 'twenty-seven' }), ['job_id: Invalid input: expected number, received string']);
  });
});
