/**
 * What a push learns before it composes anything, against the sandbox's Bodhi and PDC over real
 * HTTP: the batch of updates and their builds, and which artifacts those builds touch, with why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createBodhiActivities } from '../activities/bodhi.js';
import { createKojiActivities, type MoveBuildsInput, type MoveBuildsResult } from '../activities/koji.js';
import { createPdcActivities, type ImpactInput, type ImpactReport } from '../activities/pdc.js';
import { createPushComposeActivities } from '../activities/push-compose.js';
import { ARTIFACT_KINDS, artifactKind } from '../common/artifacts/index.js';
import { loadConfig } from '../common/config.js';
import { decidePushTests, testsRequired } from '../common/push-policy.js';
import { withTinyDisk } from './helpers/tiny-disk.js';
import { bodhiLogin, kojiLogin, startTestSandbox, TEST_HTTP, type TestSandbox } from './helpers/sandbox.js';

let sandbox: TestSandbox;

describe('push lookups: Bodhi batch and PDC impact', () => {
  before(async () => {
    sandbox = await startTestSandbox({ withBus: false });
  });
  after(async () => sandbox.stop());

  it("takes the release's tags and the updates requested for stable, with their builds", async () => {
    const bodhi = createBodhiActivities({ bodhiUrl: sandbox.urls.bodhi, http: TEST_HTTP, bodhiLogin: bodhiLogin(sandbox) });
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
    const pdc = createPdcActivities({ pdcUrl: sandbox.urls.pdc, http: TEST_HTTP });
    // lookupImpact heartbeats as it goes: run it in an activity context.
    const activity = new MockActivityEnvironment();
    const impact: ImpactReport = await activity.run((input: ImpactInput) => pdc.lookupImpact(input), {
      pdcRelease: 'fedora-29',
      builds: [
        { nvr: 'earlyoom-1.3-2.fc29', component: 'earlyoom' },
        { nvr: 'perl-podlators-4.12-1.fc29', component: 'perl-podlators' },
      ],
    });
    assert.deepEqual(impact.affected, [
      { kind: 'cloud-qcow2', name: 'Fedora-Cloud-Base', arch: 'x86_64', builds: ['earlyoom-1.3-2.fc29'], reasons: ['earlyoom-1.3-2.fc29: its packages are in Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2 (PDC build-images)'] },
      { kind: 'ostree', name: 'fedora-iot', arch: 'x86_64', builds: ['earlyoom-1.3-2.fc29'], reasons: ['earlyoom-1.3-2.fc29: fedora-iot includes earlyoom (PDC OSTreeIncludesRPM)'] },
    ]);
    // The vagrant-libvirt image was built without earlyoom; every kind untouched says why.
    assert.deepEqual(impact.unchanged.map((u) => u.kind), ARTIFACT_KINDS.map((k) => k.kind).filter((k) => k !== 'cloud-qcow2' && k !== 'ostree'));
    assert.equal(impact.unchanged.find((u) => u.kind === 'iso')?.reason, 'none of the 2 builds is in a iso artifact of fedora-29 according to PDC');

    // kernel-headers is an RPM of the kernel SRPM: the component is what PDC matches.
    const kernel: ImpactReport = await activity.run((input: ImpactInput) => pdc.lookupImpact(input), { pdcRelease: 'fedora-29', builds: [{ nvr: 'kernel-5.1.7-200.fc29', component: 'kernel' }], kinds: ['vagrant-libvirt'] });
    assert.deepEqual(kernel, {
      affected: [{ kind: 'vagrant-libvirt', name: 'Fedora-Cloud-Base-Vagrant', arch: 'x86_64', builds: ['kernel-5.1.7-200.fc29'], reasons: ['kernel-5.1.7-200.fc29: its packages are in Fedora-Cloud-Base-Vagrant-29-20190606.0.x86_64.vagrant-libvirt.box (PDC build-images)'] }],
      unchanged: [],
    });
  });

  it('Koji builds an image as a task with its files checksummed and served; a failed build fails with Koji\'s words', async () => {
    const koji = createKojiActivities({ kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, http: TEST_HTTP, kojiPollIntervalMs: 50, kojiLogin: kojiLogin(sandbox) });
    const activity = new MockActivityEnvironment();
    const build = {
      name: 'Fedora-Container-Base', version: '29', release: '20261123.1', arches: ['x86_64'], formats: ['qcow2'], target: 'f29',
      installTree: 'https://kojipkgs.example/compose/Everything/$arch/os/', kickstart: 'fedora-container-base.ks', ksurl: 'git+https://pagure.io/fedora-kickstarts.git?#origin/f29', distro: 'Fedora-29',
    };
    const started = await koji.startImageBuild(build);
    assert.equal(started.nvr, 'Fedora-Container-Base-29-20261123.1');
    assert.ok(started.taskId);
    await activity.run((id: number) => koji.waitForKojiTask(id), started.taskId);
    // Asking again (a retry whose answer was lost) finds the build instead of starting another.
    assert.deepEqual(await koji.startImageBuild(build), started);
    const output = await koji.imageBuildOutput(started);
    assert.equal(output.files.length, 1);
    const file = output.files[0]!;
    assert.equal(file.filename, 'Fedora-Container-Base-29-20261123.1.x86_64.qcow2');
    const served = Buffer.from(await (await fetch(file.url)).arrayBuffer());
    assert.equal(served.length, file.size);
    assert.equal(createHash('sha256').update(served).digest('hex'), file.sha256);

    sandbox.koji.failingImageBuilds.set('Fedora-Broken', 'Oz: the kickstart has no %packages section');
    const broken = await koji.startImageBuild({ ...build, name: 'Fedora-Broken' });
    await assert.rejects(activity.run((id: number) => koji.waitForKojiTask(id), broken.taskId!), /Koji task \d+ failed: createImage task \d+ failed: Oz: the kickstart has no %packages section/);
    await assert.rejects(koji.startImageBuild({ ...build, name: 'Fedora-X', target: 'f99' }), /No such build target: f99 \(fault 1000\)/);
  });

  it('a full push work dir is a clear, retryable error that names the directory', async (t) => {
    const koji = createKojiActivities({ kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, http: TEST_HTTP, kojiPollIntervalMs: 50, kojiLogin: kojiLogin(sandbox) });
    const activity = new MockActivityEnvironment();
    const started = await koji.startImageBuild({
      name: 'Fedora-Disk-Full', version: '29', release: '1', arches: ['x86_64'], formats: ['qcow2'], target: 'f29',
      installTree: 'https://kojipkgs.example/os/', kickstart: 'fedora-disk-full.ks', ksurl: 'git+https://pagure.io/fedora-kickstarts.git?#origin/f29', distro: 'Fedora-29',
    });
    await activity.run((id: number) => koji.waitForKojiTask(id), started.taskId!);
    const { files } = await koji.imageBuildOutput(started);
    // A 32 KiB tmpfs for a 64 KiB image.
    await withTinyDisk(t, '32k', async (tiny) => {
      const compose = createPushComposeActivities({ composeRoot: join(tiny, 'composes'), downloadDir: join(tiny, 'downloads'), composeUrl: 'http://127.0.0.1:9/pushes', http: TEST_HTTP });
      const input = {
        pushWorkflowId: 'push/F29-stable/full-1', release: { name: 'Fedora', short: 'Fedora', version: '29' }, releaseType: 'updates', date: '20261123',
        images: [{ dir: 'Cloud/x86_64/images', type: 'qcow2', format: 'qcow2', subvariant: 'Disk_Full', file: files[0]! }],
      };
      await assert.rejects(activity.run((i: typeof input) => compose.assemblePushCompose(i), input), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.type, 'PushWorkDirFull');
        assert.equal(err.nonRetryable, false);
        assert.match(err.message, new RegExp(`no space left in ${tiny}/(downloads|composes)`));
        return true;
      });
    });
  });

  it('moves builds in one multicall, each failure with Koji\'s fault, and a second call finds them moved', async () => {
    const koji = createKojiActivities({ kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, http: TEST_HTTP, kojiPollIntervalMs: 50, kojiLogin: kojiLogin(sandbox) });
    const activity = new MockActivityEnvironment();
    const move = (nvrs: string[]): Promise<MoveBuildsResult> => activity.run((input: MoveBuildsInput) => koji.moveBuilds(input), { nvrs, fromTag: 'f29-updates-testing', toTag: 'f29-updates-pending' });
    const first = await move(['python-alembic-1.0.10-1.fc29', 'flrig-1.3.45-1.fc29', 'no-such-1-1.fc29']);
    assert.deepEqual([...first.moved].sort(), ['flrig-1.3.45-1.fc29', 'python-alembic-1.0.10-1.fc29']);
    assert.deepEqual(first.failed, [{ nvr: 'no-such-1-1.fc29', reason: 'No such build: "no-such-1-1.fc29" (fault 1000)' }]);
    const again = await move(['python-alembic-1.0.10-1.fc29', 'flrig-1.3.45-1.fc29']);
    assert.deepEqual({ moved: again.moved, alreadyThere: [...again.alreadyThere].sort() }, { moved: [], alreadyThere: ['flrig-1.3.45-1.fc29', 'python-alembic-1.0.10-1.fc29'] });
  });

  it('tells Bodhi a push finished: the updates take their request as status and are unlocked', async () => {
    const bodhi = createBodhiActivities({ bodhiUrl: sandbox.urls.bodhi, http: TEST_HTTP, bodhiLogin: bodhiLogin(sandbox) });
    await bodhi.reportPushToBodhi({ release: 'F29', request: 'stable', state: 'success', updates: ['FEDORA-2019-a171291a47'] });
    const update = ((await (await fetch(`${sandbox.urls.bodhi}/updates/FEDORA-2019-a171291a47`)).json()) as { update: Record<string, unknown> }).update;
    assert.deepEqual([update['status'], update['request'], update['locked'], update['pushed']], ['stable', null, false, true]);
    await assert.rejects(bodhi.reportPushToBodhi({ release: 'F29', request: 'stable', state: 'success', updates: ['FEDORA-2019-22afc255f6'] }), /HTTP 400: .*not F29 updates requested for stable: FEDORA-2019-22afc255f6/);
  });

  it('decides a push by its test policy as Greenwave would: every new artifact of a required kind passed there', () => {
    const required = [{ kind: 'cloud-qcow2', provider: 'libvirt' as const }];
    const artifacts = [{ artifact: 'cloud-qcow2/Fedora-Cloud-Base.x86_64', kind: 'cloud-qcow2', fileName: 'a.qcow2' }, { artifact: 'iso/Fedora-netinst.x86_64', kind: 'iso', fileName: 'b.iso' }];
    assert.deepEqual(decidePushTests(required, artifacts, [{ fileName: 'a.qcow2', provider: 'libvirt', status: 'success', reason: null }]), {
      satisfied: true, passed: ['cloud-qcow2/Fedora-Cloud-Base.x86_64: passed on libvirt'], unsatisfied: [],
    });
    assert.deepEqual(decidePushTests(required, artifacts, [{ fileName: 'a.qcow2', provider: 'libvirt', status: 'failed', reason: 'line 3 exited 1' }]).unsatisfied, ['cloud-qcow2/Fedora-Cloud-Base.x86_64: libvirt test failed (line 3 exited 1)']);
    assert.deepEqual(decidePushTests(required, artifacts, []).unsatisfied, ['cloud-qcow2/Fedora-Cloud-Base.x86_64: no libvirt test result for a.qcow2']);
    assert.equal(testsRequired(required, ['iso', 'ostree']), false);
    assert.throws(() => loadConfig({ RELENGOTRON_PUSH_TEST_POLICY: JSON.stringify({ required: [{ kind: 'iso', provider: 'libvirt' }] }) }), /push.testPolicy.*names an artifact kind that has an image test/);
  });

  it('knows each artifact kind by one registry entry', () => {
    assert.equal(artifactKind('cloud-qcow2').testImageType, 'qcow2');
    assert.equal(artifactKind('ostree').sign, 'ostree-commit');
    assert.equal(artifactKind('vagrant-virtualbox').mirrorPath({ version: '43', releaseDir: 'updates/testing/43' }, 'x86_64'), 'updates/testing/43/Cloud/x86_64/images');
    assert.equal(artifactKind('ostree').mirrorPath({ version: '43', releaseDir: 'updates/testing/43' }, 'aarch64'), 'ostree/43');
    assert.throws(() => artifactKind('floppy'), /unknown artifact kind floppy; known: ostree, cloud-qcow2/);
  });
});
