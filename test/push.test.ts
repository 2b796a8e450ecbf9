/**
 * A push end to end on real parts, as far as it is built: Bodhi's batch from the sandbox, the
 * builds moved by the sandbox's Koji over XML-RPC, PDC's impact lookup, the OSTree committed by
 * the real ostree, signed by gpg under a throwaway key and verified, rsynced into a mirror tree
 * with `latest` swapped, and `releng-o-tron.push.complete` on the bus.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ostreeSignatureStatus } from '../activities/signing.js';
import { manualTrigger, pushSettings, startPush } from '../client/start.js';
import { routerFromConfig } from '../bus/router.js';
import { loadConfig, type PushPaths } from '../common/config.js';
import { startDashboard, type Dashboard } from '../dashboard/server.js';
import { listJobs } from '../dashboard/results.js';
import { ensureTestImageArtifacts, testImageFileFor, type TestImageArtifacts } from '../devstack/test-image.js';
import { operatorDecisionUpdate, pushStatusQuery, type CompensationReport } from '../workflows/api/index.js';
import type { bodhiPush, push, PushSettings } from '../workflows/index.js';
import { BusSpy, testBusService } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { bodhiPost, kojiAs, relengLogins, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startImageWorker, stopImageWorkers, testingConfig } from './helpers/image-workers.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));

async function until<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let spy: BusSpy;
let dashboard: Dashboard;
let paths: PushPaths;
const key = makeSigningKey('Fedora 29 (test)');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-push-'));

/** The configured push settings, with a test's changes. */
function settings(overrides: Partial<PushSettings> = {}): PushSettings {
  return { ...pushSettings(loadConfig({})), sign: false, operatorReminderMs: 3_600_000, ...overrides };
}

/** `relengotron runs decide`, as an operator runs it. */
async function decide(workflowId: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cliEnv = { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn' };
  return run(process.execPath, [CLI, 'runs', 'decide', workflowId, ...args], { env: cliEnv }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

/** The compensation report a failed push ends with. */
async function compensationOf(result: Promise<unknown>): Promise<CompensationReport> {
  try {
    await result;
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
    return err.cause.details?.[0] as CompensationReport;
  }
  throw new Error('the push did not fail');
}

const gpgVerify = (files: string) => execFileSync('gpg', ['--homedir', key.homedir, '--status-fd', '1', '--verify', ...files.split(' ')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('push pipeline', () => {
  before(async () => {
    let artifacts: TestImageArtifacts;
    [env, db, artifacts] = await Promise.all([startTemporal(), createTestDatabase(), ensureTestImageArtifacts()]);
    // Koji's image builds hand out the real test image, so the push's images boot in the tests.
    sandbox = await startTestSandbox({ imageFile: (format) => testImageFileFor(artifacts, format) });
    const workDir = join(dataDir, 'work');
    // The dashboard serves the push composes to the image hosts, as in production.
    dashboard = await startDashboard({ pool: db.pool, listen: '127.0.0.1:0', pushComposeRoot: join(workDir, 'composes') });
    paths = { ostreeRepo: join(dataDir, 'ostree/repo'), workDir, composeRoot: join(workDir, 'composes'), composeUrl: `${dashboard.url}/pushes`, mirrorRoot: join(dataDir, 'mirror'), archiveRoot: join(dataDir, 'archive'), signingKey: key };
    worker = await startRelengWorker(env, db.pool, {
      kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, push: paths, composeTesting: testingConfig(), logins: relengLogins(sandbox),
    });
    spy = new BusSpy(worker.publishEndpoint);
  });
  after(async () => {
    await stopImageWorkers();
    await spy.close();
    await worker.stop();
    await dashboard.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
    stopGpgAgents();
  });

  it('moves the batch in Koji (waiting for an operator while the tag is locked), recomposes only what PDC says changed, signs, syncs and announces', async () => {
    const koji = kojiAs(sandbox);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    assert.deepEqual(await tagsOf('earlyoom-1.3-2.fc29'), ['f29-updates-testing']);
    // Someone locked the stable tag: the moves fail with Koji's fault and the run waits for an operator.
    await koji.call('editTag2', ['f29-updates'], { locked: true });

    // No test required here (the bus test below boots the images): compose, sign, sync, tell Bodhi.
    const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: '20261123T120000Z', ...settings({ sign: true, operatorReminderMs: 1000, testPolicy: [] }) }, manualTrigger('push.start'));
    assert.equal(handle.workflowId, 'push/F29-stable/20261123T120000Z');
    const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator[0]);
    assert.match(waiting.step, /^moving .+ to f29-updates$/);
    assert.match(waiting.error, /tag f29-updates is locked/);
    await until(async () => (await handle.describe()).searchAttributes['RelengAwaitingOperator']?.[0] === true);
    const reminder = await spy.waitFor('releng-o-tron.push.waiting');
    assert.equal(reminder.envelope.msg['workflow_id'], handle.workflowId);
    assert.match(String(reminder.envelope.msg['decide']), /^relengotron runs decide push\/F29-stable\/20261123T120000Z retry\|skip\|abort/);
    // The batch's move waits (one multicall); the tag is unlocked and `relengotron runs decide ... retry` answers it.
    const builds = (await handle.query(pushStatusQuery)).builds;
    assert.match(waiting.error, new RegExp(`^${builds} of ${builds} builds not moved`));
    await koji.call('editTag2', ['f29-updates'], { locked: false });
    await run(process.execPath, [CLI, 'runs', 'decide', handle.workflowId, 'retry'], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn' } });
    const result = await handle.result();
    assert.equal(result.updates.flatMap((u) => u.builds).length, builds);
    assert.equal((await handle.describe()).searchAttributes['RelengAwaitingOperator']?.[0], false);

    // Koji: every build of the batch left updates-testing for updates, by task.
    const nvrs = result.updates.flatMap((u) => u.builds);
    assert.ok(nvrs.includes('earlyoom-1.3-2.fc29') && nvrs.length >= 4, nvrs.join(' '));
    for (const nvr of nvrs) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], nvr);

    // PDC: earlyoom and libntirpc are in the IoT tree and the Cloud qcow2; nothing of the batch is in the Vagrant box or an ISO.
    const byKind = Object.fromEntries(result.artifacts.filter((a) => a.artifact !== 'ostree/fedora-iot.aarch64').map((a) => [a.kind, a]));
    assert.equal(byKind['ostree']!.artifact, 'ostree/fedora-iot.x86_64');
    assert.equal(byKind['ostree']!.state, 'composed');
    assert.ok(byKind['ostree']!.reasons.includes('earlyoom-1.3-2.fc29: fedora-iot includes earlyoom (PDC OSTreeIncludesRPM)'), byKind['ostree']!.reasons.join('; '));
    for (const kind of ['vagrant-libvirt', 'vagrant-virtualbox', 'iso', 'ami', 'cloud-raw']) assert.equal(byKind[kind]!.state, 'unchanged', kind);

    // The OSTree: committed on the stable ref with the builds, signed by our key, verified.
    const commit = byKind['ostree']!.commit!;
    assert.equal(execFileSync('ostree', ['rev-parse', `--repo=${paths.ostreeRepo}`, 'fedora/29/x86_64/updates/iot'], { encoding: 'utf8' }).trim(), commit);
    const manifest = execFileSync('ostree', ['cat', `--repo=${paths.ostreeRepo}`, commit, '/usr/share/releng-o-tron/builds.txt'], { encoding: 'utf8' });
    assert.deepEqual(manifest.trim().split('\n'), ['earlyoom-1.3-2.fc29', 'libntirpc-1.7.4-1.fc29']);
    assert.equal(byKind['ostree']!.signed_by, key.keyId);
    assert.deepEqual(await ostreeSignatureStatus(key, paths.ostreeRepo, commit), { signed: true, good: true });

    // The tree is made of the RPMs of the repository Koji wrote (payloads unpacked), not just a list.
    assert.equal(execFileSync('ostree', ['cat', `--repo=${paths.ostreeRepo}`, commit, '/usr/share/earlyoom/build.txt'], { encoding: 'utf8' }).trim(), 'earlyoom-1.3-2.fc29');
    assert.equal(execFileSync('ostree', ['cat', `--repo=${paths.ostreeRepo}`, commit, '/usr/share/libntirpc/build.txt'], { encoding: 'utf8' }).trim(), 'libntirpc-1.7.4-1.fc29');

    // The updates repository: Koji's dist repo of f29-updates, every build of the batch in it, repomd.xml signed, synced.
    assert.equal(result.repository?.tag, 'f29-updates');
    assert.equal(result.repository?.packages, nvrs.length);
    assert.equal(result.repository?.mirror, join(paths.mirrorRoot, 'updates/29/Everything/20261123T120000Z'));
    // Every arch at Fedora's path, repomd.xml signed in each; the arch packages in their arch only, noarch ones in both.
    for (const arch of ['x86_64', 'aarch64']) {
      const repodata = join(paths.mirrorRoot, `updates/29/Everything/${arch}/repodata`);
      assert.match(gpgVerify(`${join(repodata, 'repomd.xml.asc')} ${join(repodata, 'repomd.xml')}`), new RegExp(`VALIDSIG ${key.fingerprint}`));
      assert.ok(existsSync(join(paths.mirrorRoot, `updates/29/Everything/${arch}/Packages/e/earlyoom-1.3-2.fc29.${arch}.rpm`)), arch);
    }
    assert.ok(!existsSync(join(paths.mirrorRoot, 'updates/29/Everything/x86_64/Packages/e/earlyoom-1.3-2.fc29.aarch64.rpm')));
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'updates/29/Everything/x86_64')), 'latest/x86_64');

    // The mirror: the repository under ostree/29/<push id>, `latest` pointing at it, the signed commit there too.
    assert.equal(byKind['ostree']!.mirror, join(paths.mirrorRoot, 'ostree/29/20261123T120000Z'));
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'ostree/29/latest')), '20261123T120000Z');
    const mirrored = join(paths.mirrorRoot, 'ostree/29/latest');
    assert.equal(execFileSync('ostree', ['rev-parse', `--repo=${mirrored}`, 'fedora/29/x86_64/updates/iot'], { encoding: 'utf8' }).trim(), commit);
    assert.deepEqual(await ostreeSignatureStatus(key, mirrored, commit), { signed: true, good: true });

    // The Cloud qcow2: a Koji image build of this push, gathered into the push compose, CHECKSUM clearsigned, synced.
    const qcow2 = byKind['cloud-qcow2']!;
    assert.deepEqual([qcow2.artifact, qcow2.state, qcow2.koji_build], ['cloud-qcow2/Fedora-Cloud-Base.x86_64', 'composed', 'Fedora-Cloud-Base-29-20261123.120000']);
    const image = qcow2.files![0]!;
    assert.equal(image.name, 'Fedora-Cloud-Base-29-20261123.120000.x86_64.qcow2');
    const kojiTask = (await koji.call('getTaskInfo', [(await koji.call('getBuild', [qcow2.koji_build!]) as { task_id: number }).task_id], { request: true })) as { method: string; request: unknown[] };
    assert.equal(kojiTask.method, 'image');
    assert.deepEqual(kojiTask.request.slice(0, 4), ['Fedora-Cloud-Base', '29', ['x86_64'], 'f29']);
    assert.equal(result.compose?.compose_id, 'Fedora-29-updates-20261123.0');
    const images = join(paths.composeRoot, 'Fedora-29-updates-20261123.0/compose/Cloud/x86_64/images');
    assert.equal(createHash('sha256').update(readFileSync(join(images, image.name))).digest('hex'), image.sha256);
    const checksum = readFileSync(join(images, 'CHECKSUM'), 'utf8');
    assert.match(checksum, /^-----BEGIN PGP SIGNED MESSAGE-----/);
    assert.ok(checksum.includes(`SHA256 (${image.name}) = ${image.sha256}`), checksum);
    assert.match(gpgVerify(join(images, 'CHECKSUM')), new RegExp(`VALIDSIG ${key.fingerprint}`));
    assert.equal(qcow2.signed_by, key.keyId);
    assert.equal(qcow2.mirror, join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/20261123T120000Z'));
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/latest')), '20261123T120000Z');
    assert.equal(readFileSync(join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/latest/CHECKSUM'), 'utf8'), checksum);
    assert.deepEqual(result.policy, { satisfied: true, passed: ['no test required by push.testPolicy for cloud-qcow2'], unsatisfied: [] });

    // Bodhi was told: the updates are stable, pushed and unlocked.
    const earlyoom = (await (await fetch(`${sandbox.urls.bodhi}/updates/FEDORA-2019-3082237808`)).json()) as { update: { status: string; request: string | null; pushed: boolean } };
    assert.deepEqual([earlyoom.update.status, earlyoom.update.request, earlyoom.update.pushed], ['stable', null, true]);
    assert.match(result.bodhi ?? '', /^told: \d+ updates pushed to stable$/);

    // The bus, and the run's own account of itself.
    const announced = await spy.waitFor('releng-o-tron.push.complete');
    assert.deepEqual(announced.envelope.msg, result);
    const finalStatus = await handle.query(pushStatusQuery);
    assert.equal(finalStatus.stage, 'done');
    // Koji wrote the updates repository with the release's key (PDC's fedora-29 sigkey).
    assert.deepEqual({ tag: finalStatus.repository?.tag, key: finalStatus.repository?.key }, { tag: 'f29-updates', key: '429476b4' });
    const repoTask = (await koji.call('getTaskInfo', [finalStatus.repository!.kojiTask], { request: true })) as { method: string; state: number; request: unknown[] };
    assert.deepEqual({ method: repoTask.method, state: repoTask.state, request: repoTask.request }, { method: 'distRepo', state: 2, request: ['f29-updates', ['429476b4'], { arch: ['x86_64', 'aarch64'], inherit: false }] });
    const description = await handle.describe();
    assert.equal(description.searchAttributes['RelengRelease']?.[0], 'F29');
    await saveHistoryIfRecording('push-ostree', handle);
    await saveHistoryIfRecording('push-artifact-ostree', env.client.workflow.getHandle(`${handle.workflowId}/ostree/fedora-iot.x86_64`));
    await saveHistoryIfRecording('push-artifact-image', env.client.workflow.getHandle(`${handle.workflowId}/koji-image/Fedora-Cloud-Base`));
  });

  it("end to end from Bodhi's push message: the kernel update's images are built by Koji, booted and tested, signed, synced, Bodhi told, announced", async () => {
    // A packager asks for stable (Bodhi's API); an image host is up.
    const requested = await bodhiPost(sandbox, '/updates/FEDORA-2019-492d24f0ef/request', { request: 'stable' }, 'packager');
    assert.equal(requested.status, 200);
    startImageWorker(env, 'libvirt', 2);
    const config = loadConfig({ RELENGOTRON_SIGNING_HOMEDIR: key.homedir, RELENGOTRON_SIGNING_KEY: key.keyId });
    const service = testBusService({ pool: db.pool, client: env.client, sandbox }, { router: routerFromConfig(config) });
    service.start();
    try {
      assert.ok(await sandbox.bus!.waitForSubscribers(1, 10_000));
      await new Promise((r) => setTimeout(r, 500));
      const real = JSON.parse(readFileSync(fileURLToPath(new URL('../../sandbox/fixtures/messages/bodhi.composer.start.json', import.meta.url)), 'utf8')) as { topic: string; msg: Record<string, unknown>; timestamp: number };
      await sandbox.bus!.publish({ topic: real.topic, msg: real.msg, timestamp: real.timestamp });
      const handle = env.client.workflow.getHandle<typeof bodhiPush>('bodhi-push/20190627T000005Z');
      await until(() => handle.describe().then(() => true, () => false));
      const result = await handle.result();
      // The sandbox's Bodhi has F29 (release 23): its rpm stable and testing pushes run; the rest is said.
      assert.deepEqual(result.pushes.map((p) => [p.release, p.request, p.workflowId, p.outcome]), [
        ['F29', 'stable', 'push/F29-stable/20190627T000005Z', 'complete'],
        ['F29', 'testing', 'push/F29-testing/20190627T000005Z', 'complete'],
      ]);
      assert.deepEqual(
        result.skipped.map((s) => `${s.release_id} ${s.request} ${s.content_type}: ${s.reason}`),
        [
          '8 stable rpm: Bodhi knows no release with id 8',
          '28 stable rpm: Bodhi knows no release with id 28',
          '29 stable module: module content is not pushed by releng-o-tron yet',
          '24 stable module: module content is not pushed by releng-o-tron yet',
          '28 testing rpm: Bodhi knows no release with id 28',
          '31 testing flatpak: flatpak content is not pushed by releng-o-tron yet',
          '8 testing rpm: Bodhi knows no release with id 8',
        ],
      );
      await saveHistoryIfRecording('bodhi-push', handle);
      const testing = await env.client.workflow.getHandle<typeof push>('push/F29-testing/20190627T000005Z').result();
      assert.deepEqual({ updates: testing.updates, artifacts: testing.artifacts }, { updates: [], artifacts: [] });

      // The stable push: the kernel's builds, and PDC's three artifacts that contain the kernel.
      const stable = env.client.workflow.getHandle<typeof push>('push/F29-stable/20190627T000005Z');
      const done = await stable.result();
      assert.deepEqual(done.updates, [{ alias: 'FEDORA-2019-492d24f0ef', builds: ['kernel-5.1.7-200.fc29', 'kernel-headers-5.1.7-200.fc29'] }]);
      const composed = done.artifacts.filter((a) => a.state === 'composed').map((a) => a.artifact);
      assert.deepEqual(composed, ['cloud-qcow2/Fedora-Cloud-Base.x86_64', 'ostree/fedora-iot.aarch64', 'ostree/fedora-iot.x86_64', 'vagrant-libvirt/Fedora-Cloud-Base-Vagrant.x86_64']);
      // Both images were booted and passed their plans on the libvirt host; the policy was satisfied before signing.
      assert.equal(done.compose?.compose_id, 'Fedora-29-updates-20190627.0');
      assert.deepEqual(done.tests.map((t) => [t.artifact, t.testcase, t.outcome]).sort(), [
        ['cloud-qcow2/Fedora-Cloud-Base.x86_64', 'compose.image.boot-and-plan.libvirt', 'success'],
        ['vagrant-libvirt/Fedora-Cloud-Base-Vagrant.x86_64', 'compose.image.boot-and-plan.libvirt', 'success'],
      ]);
      assert.equal(done.policy?.satisfied, true);
      assert.deepEqual(done.policy?.passed.sort(), ['cloud-qcow2/Fedora-Cloud-Base.x86_64: passed on libvirt', 'vagrant-libvirt/Fedora-Cloud-Base-Vagrant.x86_64: passed on libvirt']);
      const jobs = await listJobs(db.pool, { compose: 'Fedora-29-updates-20190627.0' }, { limit: 10 });
      assert.deepEqual(jobs.map((j) => j.status), ['success', 'success']);
      // Signed and synced; the mirror's CHECKSUM lists both images and verifies.
      const checksum = join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/latest/CHECKSUM');
      assert.equal(readlinkSync(join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/latest')), '20190627T000005Z');
      assert.match(gpgVerify(checksum), new RegExp(`VALIDSIG ${key.fingerprint}`));
      assert.match(readFileSync(checksum, 'utf8'), /SHA256 \(Fedora-Cloud-Base-29-20190627\.000005\.x86_64\.qcow2\) = [0-9a-f]{64}[\s\S]*SHA256 \(Fedora-Cloud-Base-Vagrant-29-20190627\.000005\.x86_64\.vagrant-libvirt\.box\) = [0-9a-f]{64}/);
      // Bodhi finished the push: the kernel update is stable.
      const kernel = (await (await fetch(`${sandbox.urls.bodhi}/updates/FEDORA-2019-492d24f0ef`)).json()) as { update: { status: string; request: string | null } };
      assert.deepEqual([kernel.update.status, kernel.update.request], ['stable', null]);
      // And the completion message on the bus is the run's result.
      const announced = await spy.waitFor('releng-o-tron.push.complete', (m) => m.envelope.msg['workflow_id'] === 'push/F29-stable/20190627T000005Z');
      assert.deepEqual(announced.envelope.msg, done);
      await saveHistoryIfRecording('push-images', stable);
    } finally {
      await service.stop();
      await stopImageWorkers();
    }
  });

  it('an unsatisfied test policy holds the push before anything is signed or synced; an operator may skip it, and the message says so', async () => {
    // The kernel update again, its builds back in updates-testing.
    const koji = kojiAs(sandbox);
    for (const nvr of ['kernel-5.1.7-200.fc29', 'kernel-headers-5.1.7-200.fc29']) await koji.call('moveBuild', ['f29-updates', 'f29-updates-testing', nvr]);
    await bodhiPost(sandbox, '/updates/FEDORA-2019-492d24f0ef/request', { request: 'stable' }, 'packager');
    startImageWorker(env, 'libvirt', 2);
    try {
      // Required: a VirtualBox test of the qcow2, which no rule schedules: Greenwave's "missing result".
      const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'policy-1', ...settings({ testPolicy: [{ kind: 'cloud-qcow2', provider: 'vbox' }] }) }, manualTrigger('push.start'));
      const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator.find((w) => w.step.startsWith('testing the images of ')), 300_000);
      assert.match(waiting.error, /push.testPolicy is not satisfied: cloud-qcow2\/Fedora-Cloud-Base.x86_64: no vbox test result for Fedora-Cloud-Base-29-policy.1.x86_64.qcow2/);
      const held = await handle.query(pushStatusQuery);
      assert.equal(held.stage, 'test');
      assert.equal(existsSync(join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/policy-1')), false, 'nothing synced while the policy holds the push');
      await run(process.execPath, [CLI, 'runs', 'decide', handle.workflowId, 'skip', '--reason', 'no VirtualBox host this week'], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn' } });
      const result = await handle.result();
      assert.deepEqual(result.policy, {
        satisfied: false, passed: [], unsatisfied: ['cloud-qcow2/Fedora-Cloud-Base.x86_64: no vbox test result for Fedora-Cloud-Base-29-policy.1.x86_64.qcow2'], skipped_by: 'no VirtualBox host this week',
      });
      // The tests that did run are reported: the libvirt ones passed.
      assert.ok(result.tests.length > 0 && result.tests.every((t) => t.outcome === 'success'), JSON.stringify(result.tests));
      assert.ok(existsSync(join(paths.mirrorRoot, 'updates/29/Cloud/x86_64/images/policy-1/CHECKSUM')));
      assert.ok((await handle.query(pushStatusQuery)).skipped.some((s) => s === 'the test policy: no VirtualBox host this week'));
    } finally {
      await stopImageWorkers();
    }
  });

  it('an operator may abort a push whose step keeps failing', async () => {
    const { handle } = await startPush(env.client, { release: 'F99', request: 'stable', pushId: 'abort-1', ...settings() }, manualTrigger('push.start'));
    const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator[0]);
    assert.equal(waiting.step, 'fetching the batch from Bodhi');
    assert.match(waiting.error, /404/);
    // A decision that fits nothing is refused with what the run waits for, and changes nothing.
    const refused = await decide(handle.workflowId, 'retry', '--step', 'syncing everything');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^retry refused by push\/F99-stable\/abort-1: no step "syncing everything" waits; waiting: "fetching the batch from Bodhi"/);
    assert.match(refused.stderr, /waiting for: an operator to decide on "fetching the batch from Bodhi"/);
    const noReason = await decide(handle.workflowId, 'abort', '--reason', ' ');
    assert.match(noReason.stderr, /abort refused by .*: abort needs a reason/);
    assert.equal((await handle.query(pushStatusQuery)).awaitingOperator.length, 1);
    await saveHistoryIfRecording('push-waiting-for-operator', handle);
    // `runs show` says what the run waits for and how to answer.
    const shown = JSON.parse((await run(process.execPath, [CLI, 'runs', 'show', handle.workflowId], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn' } })).stdout);
    assert.equal(shown.waitingFor.length, 1);
    assert.match(shown.waitingFor[0].for, /^an operator to decide on "fetching the batch from Bodhi" \(failed: .*404/);
    assert.equal(shown.waitingFor[0].answer, `relengotron runs decide ${handle.workflowId} retry|skip|abort --reason "..."`);
    const outcome = await handle.executeUpdate(operatorDecisionUpdate, { args: [{ action: 'abort', reason: 'F99 does not exist' }] });
    assert.deepEqual(outcome, { action: 'abort', steps: ['fetching the batch from Bodhi'] });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(err.cause?.message ?? '', /aborted by an operator at fetching the batch from Bodhi: F99 does not exist/);
      return true;
    });
    // Once the run has ended, a decision is refused as such.
    const late = await decide(handle.workflowId, 'retry');
    assert.match(late.stderr, /retry refused by push\/F99-stable\/abort-1: the run has ended/);
  });

  it('a push aborted after moving builds undoes each change on its own: builds moved back though Bodhi refuses the report, then a move back Koji refuses (compensation)', async () => {
    const koji = kojiAs(sandbox);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    // The batch back where a stable push finds it, and an OSTree repository path that cannot be one.
    const first = (await env.client.workflow.getHandle<typeof push>('push/F29-stable/20261123T120000Z').result()).updates;
    const batch = first.flatMap((u) => u.builds);
    // The first push finished in Bodhi; its updates are asked for stable again, their builds back in testing.
    for (const { alias } of first) {
      const asked = await bodhiPost(sandbox, `/updates/${alias}/request`, { request: 'stable' }, 'packager');
      assert.equal(asked.status, 200);
    }
    for (const nvr of batch) {
      const task = await koji.call('moveBuild', ['f29-updates', 'f29-updates-testing', nvr]);
      assert.equal(typeof task, 'number');
    }
    renameSync(paths.ostreeRepo, `${paths.ostreeRepo}.kept`);
    writeFileSync(paths.ostreeRepo, 'not a repository');
    try {
      const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'compensate-1', ...settings({ testPolicy: [] }) }, manualTrigger('push.start'));
      // Both arches' trees fail on the broken repository and wait; one abort answers both.
      const bothArches = async (run: typeof handle) => {
        const waits = (await run.query(pushStatusQuery)).awaitingOperator.filter((w) => w.step.startsWith('composing ostree/fedora-iot.'));
        return waits.length === 2 ? waits : null;
      };
      const waiting = (await until(() => bothArches(handle)))[0]!;
      assert.match(waiting.error, /the OSTree repository .* cannot be used/);
      for (const nvr of batch) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], `${nvr} was moved before the failure`);

      // Meanwhile Bodhi stopped taking the composer account's reports.
      sandbox.bodhi.denyWrites('composes', 'releng-o-tron does not have permission to report composes');
      const aborted = await decide(handle.workflowId, 'abort', '--reason', 'the OSTree host is broken');
      assert.equal(aborted.code, 0, aborted.stderr);
      // One abort answers both waiting steps, in the order they began to wait.
      assert.match(aborted.stdout, /^abort accepted by push\/F29-stable\/compensate-1: it answers "composing ostree\/fedora-iot\.(aarch64|x86_64)", "composing ostree\/fedora-iot\.(aarch64|x86_64)"/);
      assert.ok(aborted.stdout.includes('"composing ostree/fedora-iot.aarch64"') && aborted.stdout.includes('"composing ostree/fedora-iot.x86_64"'), aborted.stdout);
      const report = await compensationOf(handle.result());
      assert.match(report.failure, /^aborted by an operator at composing ostree\/fedora-iot\.(aarch64|x86_64): the OSTree host is broken$/);
      for (const nvr of batch) assert.deepEqual(await tagsOf(nvr), ['f29-updates-testing'], `${nvr} is back`);
      assert.ok(report.undone.includes('earlyoom-1.3-2.fc29 moved back to f29-updates-testing'), report.undone.join('; '));
      assert.equal(report.notUndone.length, 1, report.notUndone.join('; '));
      assert.match(report.notUndone[0]!, /^telling Bodhi the push failed: .*403.*releng-o-tron does not have permission to report composes/);
      sandbox.bodhi.denyWrites('composes', null);
      const status = await handle.query(pushStatusQuery);
      assert.equal(status.stage, 'failed');
      assert.deepEqual(status.compensation, report);

      // Again with the rest of the batch; this time Koji refuses the move back (the tag was locked).
      const again = batch;
      const second = (await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'compensate-2', ...settings({ testPolicy: [] }) }, manualTrigger('push.start'))).handle;
      await until(() => bothArches(second));
      await koji.call('editTag2', ['f29-updates-testing'], { locked: true });
      try {
        await second.executeUpdate(operatorDecisionUpdate, { args: [{ action: 'abort', reason: 'still broken' }] });
        const refusedBack = await compensationOf(second.result());
        assert.deepEqual(refusedBack.undone, ['Bodhi told the push failed']);
        assert.equal(refusedBack.notUndone.length, again.length);
        for (const line of refusedBack.notUndone) assert.match(line, /could NOT be moved back to f29-updates-testing: .*tag f29-updates-testing is locked/);
        for (const nvr of again) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], `${nvr} stays where Koji left it`);
      } finally {
        await koji.call('editTag2', ['f29-updates-testing'], { locked: false });
      }
    } finally {
      // Whatever failed above, the next test gets a Bodhi that takes reports and a usable repository.
      sandbox.bodhi.denyWrites('composes', null);
      rmSync(paths.ostreeRepo, { force: true });
      renameSync(`${paths.ostreeRepo}.kept`, paths.ostreeRepo);
    }
  });

  it('a mirror tree compensation cannot check is left alone and reported; the mirror layout fault is final, not retried', async () => {
    const koji = kojiAs(sandbox);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    const batch = (await env.client.workflow.getHandle<typeof push>('push/F29-stable/20261123T120000Z').result()).updates.flatMap((u) => u.builds);
    for (const nvr of batch) if ((await tagsOf(nvr)).includes('f29-updates')) await koji.call('moveBuild', ['f29-updates', 'f29-updates-testing', nvr]);
    // Someone replaced the repository's `latest` symlink with a directory of their own.
    const root = join(paths.mirrorRoot, 'updates/29/Everything');
    const published = readlinkSync(join(root, 'latest'));
    rmSync(join(root, 'latest'));
    mkdirSync(join(root, 'latest'));
    try {
      const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'compensate-3', ...settings({ testPolicy: [] }) }, manualTrigger('push.start'));
      const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator.find((w) => w.step === 'syncing updates/29/Everything'));
      assert.match(waiting.error, /updates\/29\/Everything\/latest is not a symlink/);
      // Non-retryable: the step waited for an operator after one attempt, not ten.
      await handle.executeUpdate(operatorDecisionUpdate, { args: [{ action: 'abort', reason: 'the mirror needs a look' }] });
      const report = await compensationOf(handle.result());
      assert.ok(report.undone.includes('earlyoom-1.3-2.fc29 moved back to f29-updates-testing'), report.undone.join('; '));
      assert.ok(report.undone.includes('Bodhi told the push failed'));
      assert.equal(report.notUndone.length, 1, report.notUndone.join('; '));
      assert.match(report.notUndone[0]!, /^removing the half-synced updates\/29\/Everything\/compensate-3: .*latest is not a symlink/);
      assert.ok(existsSync(join(root, 'latest')), 'the hand-made directory is untouched');
    } finally {
      rmSync(join(root, 'latest'), { recursive: true, force: true });
      symlinkSync(published, join(root, 'latest'));
    }
  });
});
