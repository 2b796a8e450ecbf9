/**
 * What a push learns before it composes anything, against the sandbox's Bodhi and PDC over real
 * HTTP: the batch of updates and their builds, and which artifacts those builds touch, with why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createBodhiActivities } from '../activities/bodhi.js';
import { createPdcActivities } from '../activities/pdc.js';
import { ARTIFACT_KINDS, artifactKind } from '../common/artifacts/index.js';
import { startTestSandbox, type TestSandbox } from './helpers/sandbox.js';

let sandbox: TestSandbox;

describe('push lookups: Bodhi batch and PDC impact', () => {
  before(async () => {
    sandbox = await startTestSandbox({ withBus: false });
  });
  after(async () => sandbox.stop());

  it("takes the release's tags and the updates requested for stable, with their builds", async () => {
    const bodhi = createBodhiActivities({ bodhiUrl: sandbox.urls.bodhi, requestTimeoutMs: 5000 });
    const batch = await bodhi.fetchPushBatch({ release: 'F29', request: 'stable' });
    assert.deepEqual(
      { candidate: batch.release.candidate_tag, testing: batch.release.testing_tag, stable: batch.release.stable_tag },
      { candidate: 'f29-updates-candidate', testing: 'f29-updates-testing', stable: 'f29-updates' },
    );
    assert.ok(batch.updates.length >= 4);
    assert.deepEqual(batch.updates.find((u) => u.alias === 'FEDORA-2019-3082237808')?.builds, ['earlyoom-1.3-2.fc29']);
    await assert.rejects(bodhi.fetchPushBatch({ release: 'F99', request: 'stable' }), (err: unknown) => err instanceof ApplicationFailure && /404/.test(err.message));
  });

  it('finds the artifacts a build is in, and says why the others are untouched', async () => {
    const pdc = createPdcActivities({ pdcUrl: sandbox.urls.pdc, requestTimeoutMs: 5000 });
    const impact = await pdc.lookupImpact({
      pdcRelease: 'fedora-29',
      builds: [
        { nvr: 'earlyoom-1.3-2.fc29', component: 'earlyoom' },
        { nvr: 'perl-podlators-4.12-1.fc29', component: 'perl-podlators' },
      ],
    });
    assert.deepEqual(impact.map((i) => i.kind), ARTIFACT_KINDS.map((k) => k.kind));
    const byKind = Object.fromEntries(impact.map((i) => [i.kind, i]));
    assert.deepEqual(byKind['cloud-qcow2'], { kind: 'cloud-qcow2', affected: true, reasons: ['earlyoom-1.3-2.fc29: its packages are in Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2 (PDC build-images)'] });
    assert.deepEqual(byKind['ostree'], { kind: 'ostree', affected: true, reasons: ['earlyoom-1.3-2.fc29: fedora-iot includes earlyoom (PDC OSTreeIncludesRPM)'] });
    // The vagrant-libvirt image was built without earlyoom.
    assert.equal(byKind['vagrant-libvirt']!.affected, false);
    assert.deepEqual(byKind['iso']!.reasons, ['none of the 2 builds is in a iso artifact of fedora-29 according to PDC']);

    // kernel-headers is an RPM of the kernel SRPM: the component is what PDC matches.
    const kernel = await pdc.lookupImpact({ pdcRelease: 'fedora-29', builds: [{ nvr: 'kernel-5.1.7-200.fc29', component: 'kernel' }], kinds: ['vagrant-libvirt'] });
    assert.deepEqual(kernel, [{ kind: 'vagrant-libvirt', affected: true, reasons: ['kernel-5.1.7-200.fc29: its packages are in Fedora-Cloud-Base-Vagrant-29-20190606.0.x86_64.vagrant-libvirt.box (PDC build-images)'] }]);
  });

  it('knows each artifact kind by one registry entry', () => {
    assert.equal(artifactKind('cloud-qcow2').testImageType, 'qcow2');
    assert.equal(artifactKind('ostree').sign, 'ostree-commit');
    assert.equal(artifactKind('vagrant-virtualbox').mirrorPath('43', 'x86_64'), '43/Cloud/x86_64/images');
    assert.throws(() => artifactKind('floppy'), /unknown artifact kind floppy; known: ostree, cloud-qcow2/);
  });
});
