/**
 * A push end to end on real parts, as far as it is built: Bodhi's batch from the sandbox, the
 * builds moved by the sandbox's Koji over XML-RPC, PDC's impact lookup, the OSTree committed by
 * the real ostree, signed by gpg under a throwaway key and verified, rsynced into a mirror tree
 * with `latest` swapped, and `releng-o-tron.push.complete` on the bus.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { KojiClient } from '../activities/koji.js';
import { ostreeSignatureStatus } from '../activities/signing.js';
import { manualTrigger, startPush } from '../client/start.js';
import { pushStatusQuery } from '../workflows/index.js';
import { BusSpy } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let spy: BusSpy;
const key = makeSigningKey('Fedora 29 (test)');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-push-'));
const paths = { ostreeRepo: join(dataDir, 'ostree/repo'), workDir: join(dataDir, 'work'), mirrorRoot: join(dataDir, 'mirror'), signingKey: key };

describe('push pipeline (OSTree artifacts end to end)', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox({ withBus: false })]);
    worker = await startRelengWorker(env, db.pool, { kojiHubUrl: sandbox.urls.kojiHub, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, push: paths });
    spy = new BusSpy(worker.publishEndpoint);
  });
  after(async () => {
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
    stopGpgAgents();
  });

  it('moves the batch in Koji, recomposes only what PDC says changed, signs, syncs and announces', async () => {
    const koji = new KojiClient(sandbox.urls.kojiHub, 5000);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    assert.deepEqual(await tagsOf('earlyoom-1.3-2.fc29'), ['f29-updates-testing']);

    const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: '20261123T120000Z', ostreeRef: 'fedora/{version}/x86_64/iot', sign: true }, manualTrigger('push.start'));
    assert.equal(handle.workflowId, 'push/F29-stable/20261123T120000Z');
    const result = await handle.result();

    // Koji: every build of the batch left updates-testing for updates, by task.
    const builds = result.updates.flatMap((u) => u.builds);
    assert.ok(builds.includes('earlyoom-1.3-2.fc29') && builds.length >= 4, builds.join(' '));
    for (const nvr of builds) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], nvr);

    // PDC: earlyoom is in the IoT tree and the Cloud qcow2; nothing of the batch is in the Vagrant box or an ISO.
    const byKind = Object.fromEntries(result.artifacts.map((a) => [a.kind, a]));
    assert.equal(byKind['ostree']!.state, 'composed');
    assert.ok(byKind['ostree']!.reasons.includes('earlyoom-1.3-2.fc29: fedora-iot includes earlyoom (PDC OSTreeIncludesRPM)'), byKind['ostree']!.reasons.join('; '));
    assert.equal(byKind['cloud-qcow2']!.state, 'not-composed');
    assert.match(byKind['cloud-qcow2']!.reasons.join(' '), /earlyoom-1.3-2.fc29: its packages are in Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2.*not built yet/);
    for (const kind of ['vagrant-libvirt', 'vagrant-virtualbox', 'iso', 'ami', 'cloud-raw']) assert.equal(byKind[kind]!.state, 'unchanged', kind);

    // The OSTree: committed on the ref with the builds, signed by our key, verified.
    const commit = byKind['ostree']!.commit!;
    assert.equal(execFileSync('ostree', ['rev-parse', `--repo=${paths.ostreeRepo}`, 'fedora/29/x86_64/iot'], { encoding: 'utf8' }).trim(), commit);
    const manifest = execFileSync('ostree', ['cat', `--repo=${paths.ostreeRepo}`, commit, '/usr/share/releng-o-tron/builds.txt'], { encoding: 'utf8' });
    assert.deepEqual(manifest.trim().split('\n'), [...builds].sort());
    assert.equal(byKind['ostree']!.signed_by, key.keyId);
    assert.deepEqual(await ostreeSignatureStatus(key, paths.ostreeRepo, commit), { signed: true, good: true });

    // The mirror: the repository under ostree/29/<push id>, `latest` pointing at it, the signed commit there too.
    assert.equal(byKind['ostree']!.mirror, join(paths.mirrorRoot, 'ostree/29/20261123T120000Z'));
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'ostree/29/latest')), '20261123T120000Z');
    const mirrored = join(paths.mirrorRoot, 'ostree/29/latest');
    assert.equal(execFileSync('ostree', ['rev-parse', `--repo=${mirrored}`, 'fedora/29/x86_64/iot'], { encoding: 'utf8' }).trim(), commit);
    assert.deepEqual(await ostreeSignatureStatus(key, mirrored, commit), { signed: true, good: true });

    // The bus, and the run's own account of itself.
    const announced = await spy.waitFor('releng-o-tron.push.complete');
    assert.deepEqual(announced.envelope.msg, result);
    assert.equal((await handle.query(pushStatusQuery)).stage, 'done');
    const description = await handle.describe();
    assert.equal(description.searchAttributes['RelengRelease']?.[0], 'F29');
    await saveHistoryIfRecording('push-ostree', handle);
    await saveHistoryIfRecording('push-artifact-ostree', env.client.workflow.getHandle(`${handle.workflowId}/ostree`));
  });
});
