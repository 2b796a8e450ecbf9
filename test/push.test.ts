/**
 * A push end to end on real parts, as far as it is built: Bodhi's batch from the sandbox, the
 * builds moved by the sandbox's Koji over XML-RPC, PDC's impact lookup, the OSTree committed by
 * the real ostree, signed by gpg under a throwaway key and verified, rsynced into a mirror tree
 * with `latest` swapped, and `releng-o-tron.push.complete` on the bus.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { KojiClient } from '../activities/koji.js';
import { ostreeSignatureStatus } from '../activities/signing.js';
import { manualTrigger, startPush } from '../client/start.js';
import { routerFromConfig } from '../bus/router.js';
import { loadConfig } from '../common/config.js';
import { operatorDecisionSignal, pushStatusQuery, type bodhiPush, type push } from '../workflows/index.js';
import { BusSpy, testBusService } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
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
const key = makeSigningKey('Fedora 29 (test)');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-push-'));
const paths = { ostreeRepo: join(dataDir, 'ostree/repo'), workDir: join(dataDir, 'work'), mirrorRoot: join(dataDir, 'mirror'), signingKey: key };

describe('push pipeline (OSTree artifacts end to end)', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    worker = await startRelengWorker(env, db.pool, { kojiHubUrl: sandbox.urls.kojiHub, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, push: paths });
    spy = new BusSpy(worker.publishEndpoint);
  });
  after(async () => {
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
    stopGpgAgents();
  });

  it('moves the batch in Koji (waiting for an operator while the tag is locked), recomposes only what PDC says changed, signs, syncs and announces', async () => {
    const koji = new KojiClient(sandbox.urls.kojiHub, 5000);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    assert.deepEqual(await tagsOf('earlyoom-1.3-2.fc29'), ['f29-updates-testing']);
    // Someone locked the stable tag: the moves fail with Koji's fault and the run waits for an operator.
    await koji.call('editTag2', ['f29-updates'], { locked: true });

    const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: '20261123T120000Z', ostreeRef: 'fedora/{version}/x86_64/iot', sign: true, operatorReminderMs: 1000 }, manualTrigger('push.start'));
    assert.equal(handle.workflowId, 'push/F29-stable/20261123T120000Z');
    const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator[0]);
    assert.match(waiting.step, /^moving .+ to f29-updates$/);
    assert.match(waiting.error, /tag f29-updates is locked/);
    await until(async () => (await handle.describe()).searchAttributes['RelengAwaitingOperator']?.[0] === true);
    const reminder = await spy.waitFor('releng-o-tron.push.waiting');
    assert.equal(reminder.envelope.msg['workflow_id'], handle.workflowId);
    assert.match(String(reminder.envelope.msg['decide']), /^relengotron runs decide push\/F29-stable\/20261123T120000Z retry\|skip\|abort/);
    // Every build's move waits; the tag is unlocked and one `relengotron runs decide ... retry` answers them all.
    const builds = (await until(async () => {
      const status = await handle.query(pushStatusQuery);
      return status.awaitingOperator.length === status.builds && status.builds > 0 && status;
    })).builds;
    await koji.call('editTag2', ['f29-updates'], { locked: false });
    await run(process.execPath, [CLI, 'runs', 'decide', handle.workflowId, 'retry'], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn' } });
    const result = await handle.result();
    assert.equal(result.updates.flatMap((u) => u.builds).length, builds);
    assert.equal((await handle.describe()).searchAttributes['RelengAwaitingOperator']?.[0], false);

    // Koji: every build of the batch left updates-testing for updates, by task.
    const nvrs = result.updates.flatMap((u) => u.builds);
    assert.ok(nvrs.includes('earlyoom-1.3-2.fc29') && nvrs.length >= 4, nvrs.join(' '));
    for (const nvr of nvrs) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], nvr);

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
    assert.deepEqual(manifest.trim().split('\n'), [...nvrs].sort());
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
    const finalStatus = await handle.query(pushStatusQuery);
    assert.equal(finalStatus.stage, 'done');
    // Koji wrote the updates repository with the release's key (PDC's fedora-29 sigkey).
    assert.deepEqual({ tag: finalStatus.repository?.tag, key: finalStatus.repository?.key }, { tag: 'f29-updates', key: '429476b4' });
    const repoTask = (await koji.call('getTaskInfo', [finalStatus.repository!.kojiTask], { request: true })) as { method: string; state: number; request: unknown[] };
    assert.deepEqual({ method: repoTask.method, state: repoTask.state, request: repoTask.request }, { method: 'distRepo', state: 2, request: ['f29-updates', ['429476b4']] });
    const description = await handle.describe();
    assert.equal(description.searchAttributes['RelengRelease']?.[0], 'F29');
    await saveHistoryIfRecording('push-ostree', handle);
    await saveHistoryIfRecording('push-artifact-ostree', env.client.workflow.getHandle(`${handle.workflowId}/ostree`));
  });

  it("Bodhi's push message starts a push per release and request it names; what releng-o-tron cannot push is said", async () => {
    const service = testBusService({ pool: db.pool, client: env.client, endpoint: sandbox.busEndpoint, datagrepperUrl: sandbox.urls.datagrepper }, { router: routerFromConfig(loadConfig({})) });
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
    } finally {
      await service.stop();
    }
  });

  it('an operator may abort a push whose step keeps failing', async () => {
    const { handle } = await startPush(env.client, { release: 'F99', request: 'stable', pushId: 'abort-1', ostreeRef: 'fedora/{version}/x86_64/iot', sign: false, operatorReminderMs: 3_600_000 }, manualTrigger('push.start'));
    const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator[0]);
    assert.equal(waiting.step, 'fetching the batch from Bodhi');
    assert.match(waiting.error, /404/);
    await handle.signal(operatorDecisionSignal, { action: 'abort', reason: 'F99 does not exist' });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(err.cause?.message ?? '', /aborted by an operator at fetching the batch from Bodhi: F99 does not exist/);
      return true;
    });
  });

  it('a push aborted after moving builds moves them back (compensation)', async () => {
    const koji = new KojiClient(sandbox.urls.kojiHub, 5000);
    const tagsOf = async (nvr: string) => ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
    // The batch back where a stable push finds it, and an OSTree repository path that cannot be one.
    const batch = (await env.client.workflow.getHandle<typeof push>('push/F29-stable/20261123T120000Z').result()).updates.flatMap((u) => u.builds);
    for (const nvr of batch) {
      const task = await koji.call('moveBuild', ['f29-updates', 'f29-updates-testing', nvr]);
      assert.equal(typeof task, 'number');
    }
    renameSync(paths.ostreeRepo, `${paths.ostreeRepo}.kept`);
    writeFileSync(paths.ostreeRepo, 'not a repository');
    try {
      const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'compensate-1', ostreeRef: 'fedora/{version}/x86_64/iot', sign: false, operatorReminderMs: 3_600_000 }, manualTrigger('push.start'));
      const waiting = await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator.find((w) => w.step === 'composing ostree'));
      assert.match(waiting.error, /the OSTree repository .* cannot be used/);
      for (const nvr of batch) assert.deepEqual(await tagsOf(nvr), ['f29-updates'], `${nvr} was moved before the failure`);

      await handle.signal(operatorDecisionSignal, { action: 'abort', reason: 'the OSTree host is broken' });
      await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && /aborted by an operator at composing ostree: the OSTree host is broken/.test(err.cause?.message ?? ''));
      for (const nvr of batch) assert.deepEqual(await tagsOf(nvr), ['f29-updates-testing'], `${nvr} is back`);
      const status = await handle.query(pushStatusQuery);
      assert.equal(status.stage, 'failed');
      assert.ok(status.compensated.includes('earlyoom-1.3-2.fc29 moved back to f29-updates-testing'), status.compensated.join('; '));
    } finally {
      rmSync(paths.ostreeRepo, { force: true });
      renameSync(`${paths.ostreeRepo}.kept`, paths.ostreeRepo);
    }
  });
});
