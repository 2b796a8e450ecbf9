/**
 * The branches a happy run never takes, on the real dev server with durations shortened by
 * config: a gate whose build never enters the gate tag, a gate whose results never come, Greenwave
 * deciding, operator reminders piling up while nobody answers, and an image test no host takes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { KojiClient } from '../activities/koji.js';
import { manualTrigger, pushSettings, signalGate, startComposeDiscovery, startComposeTest, startPush } from '../client/start.js';
import { loadConfig, type GatingLane } from '../common/config.js';
import {
  buildTaggedSignal,
  GATE_NEVER_ENTERED,
  gateBuildStatusQuery,
  greenwaveDecisionSignal,
  imageTestStatusQuery,
  operatorDecisionUpdate,
  pushStatusQuery,
  waitingForQuery,
} from '../workflows/api/index.js';
import { BusSpy } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { testingConfig } from './helpers/image-workers.js';
import { kojiAs, newCompose, relengLogins, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { until } from './helpers/until.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let spy: BusSpy;
let koji: KojiClient;

const REQUIRED = 'fedora-ci.koji-build.tier0.functional';

/** A lane like f29's, with a timeout a test can wait out. */
function lane(overrides: Partial<GatingLane> = {}): GatingLane {
  return {
    name: 'f29',
    gateTag: 'f29-updates-testing-pending',
    releaseTag: 'f29',
    quarantineTag: 'f29-quarantine',
    distTag: 'fc29',
    requiredTests: [REQUIRED],
    resultTimeout: '3s',
    ...overrides,
  };
}

async function tagsOf(nvr: string): Promise<string[]> {
  return ((await koji.call('listTags', [], { build: nvr })) as { name: string }[]).map((t) => t.name).sort();
}

/** Opens a gate as the bus would, with a message for it. */
async function openGate(nvr: string, laneOf: GatingLane, tagged: boolean) {
  sandbox.koji.importBuild(nvr, 'kdudka');
  if (tagged) await koji.call('tagBuild', [laneOf.gateTag, nvr]);
  const { handle } = await signalGate(env.client, { nvr, lane: laneOf }, buildTaggedSignal, { tag: 'f29-updates-candidate', owner: 'kdudka', msgId: 'test' }, manualTrigger('gate.open'));
  return handle;
}

describe('workflow branches, with short durations', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    koji = kojiAs(sandbox);
    worker = await startRelengWorker(env, db.pool, {
      kojiHubUrl: sandbox.urls.kojiHub,
      kojiTopUrl: sandbox.urls.kojiFiles,
      services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc },
      composeTesting: testingConfig({ waitForHost: '10s' }),
      logins: relengLogins(sandbox),
    });
    spy = new BusSpy(worker.publishEndpoint);
  });
  after(async () => {
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('a gate whose build never enters the gate tag fails at the timeout with a typed, non-retryable failure and moves nothing', async () => {
    const nvr = 'never-1.0-1.fc29';
    const handle = await openGate(nvr, lane(), false);
    const waits = await until(async () => {
      const w = await handle.query(waitingForQuery);
      return w.length > 0 && w;
    });
    assert.equal(waits[0]!.for, `Koji to tag ${nvr} into f29-updates-testing-pending`);
    assert.ok(waits[0]!.until && Date.parse(waits[0]!.until) > Date.now() - 5_000, JSON.stringify(waits));
    const started = Date.now();
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
      assert.equal(err.cause.type, GATE_NEVER_ENTERED);
      assert.equal(err.cause.nonRetryable, true);
      assert.match(err.cause.message, /^never-1\.0-1\.fc29 was not tagged into f29-updates-testing-pending within 3s; 0 result\(s\) received, nothing moved$/);
      return true;
    });
    // It ended (not a workflow task retried forever) within the timeout and a little.
    assert.ok(Date.now() - started < 15_000);
    assert.equal((await handle.describe()).status.name, 'FAILED');
    assert.equal((await handle.query(gateBuildStatusQuery)).stage, 'failed');
    assert.deepEqual(await tagsOf(nvr), []);
    await saveHistoryIfRecording('gate-build-never-tagged', handle);
  });

  it('a tagged build whose results never come is quarantined at the timeout, saying what it waited for', async () => {
    const nvr = 'silent-1.0-1.fc29';
    const handle = await openGate(nvr, lane(), true);
    const waits = await until(async () => {
      const w = await handle.query(waitingForQuery);
      return w[0]?.for.startsWith('results') && w;
    });
    assert.equal(waits[0]!.for, `results for ${nvr}: waiting for ${REQUIRED} (no result)`);
    const result = (await handle.result());
    assert.equal(result.verdict, 'quarantined');
    assert.equal(result.reason, `no verdict after 3s: waiting for ${REQUIRED} (no result)`);
    assert.deepEqual(await tagsOf(nvr), ['f29-quarantine']);
    const told = await spy.waitFor('releng-o-tron.gating.quarantined');
    assert.equal(told.envelope.msg['nvr'], nvr);
  });

  it("Greenwave's decision settles a lane with a Greenwave context: satisfied passes, a failed requirement quarantines, undecided times out", async () => {
    const greenwave = lane({ greenwaveContext: 'bodhi_update_push_testing', resultTimeout: '20s' });
    const cases = [
      { nvr: 'gw-pass-1.0-1.fc29', decision: { satisfied: true, anyFailed: false, summary: 'All required tests passed' }, verdict: 'passed', tag: 'f29' },
      { nvr: 'gw-fail-1.0-1.fc29', decision: { satisfied: false, anyFailed: true, summary: '1 of 1 required tests failed' }, verdict: 'quarantined', tag: 'f29-quarantine' },
    ] as const;
    for (const c of cases) {
      const handle = await openGate(c.nvr, greenwave, true);
      await until(async () => (await handle.query(gateBuildStatusQuery)).stage === 'awaiting-results');
      await handle.signal(greenwaveDecisionSignal, c.decision);
      const result = (await handle.result());
      assert.equal(result.verdict, c.verdict);
      assert.equal(result.reason, `Greenwave: ${c.decision.summary}`);
      assert.deepEqual(await tagsOf(c.nvr), [c.tag]);
      if (c.verdict === 'passed') await saveHistoryIfRecording('gate-build-greenwave', handle);
    }
    // Undecided (a missing result): the gate keeps waiting, then quarantines with Greenwave's words.
    const undecided = await openGate('gw-wait-1.0-1.fc29', { ...greenwave, resultTimeout: '3s' }, true);
    await until(async () => (await undecided.query(gateBuildStatusQuery)).stage === 'awaiting-results');
    await undecided.signal(greenwaveDecisionSignal, { satisfied: false, anyFailed: false, summary: '1 of 1 required test results missing' });
    const result = (await undecided.result());
    assert.equal(result.verdict, 'quarantined');
    assert.equal(result.reason, 'no verdict after 3s: Greenwave: 1 of 1 required test results missing');
    // A lane without a Greenwave context ignores Greenwave: its required test decides.
    const plain = await openGate('gw-ignored-1.0-1.fc29', lane(), true);
    await until(async () => (await plain.query(gateBuildStatusQuery)).stage === 'awaiting-results');
    await plain.signal(greenwaveDecisionSignal, { satisfied: true, anyFailed: false, summary: 'All required tests passed' });
    assert.equal((await plain.result()).verdict, 'quarantined');
  });

  it('a push waiting for an operator reminds on the bus at the configured interval until someone decides', async () => {
    const settings = { ...pushSettings(loadConfig({})), sign: false, operatorReminderMs: 500, testPolicy: [] };
    const { handle } = await startPush(env.client, { release: 'F98', request: 'testing', pushId: 'remind-1', ...settings }, manualTrigger('push.start'));
    const reminders = await until(() => {
      const seen = spy.received.filter((m) => m.topic.endsWith('releng-o-tron.push.waiting') && m.envelope.msg['workflow_id'] === handle.workflowId);
      return Promise.resolve(seen.length >= 3 && seen);
    });
    assert.deepEqual(reminders.slice(0, 3).map((m) => m.envelope.msg['reminders']), [1, 2, 3]);
    assert.equal(reminders[0]!.envelope.msg['step'], 'fetching the batch from Bodhi');
    const status = await handle.query(pushStatusQuery);
    assert.ok(status.awaitingOperator[0]!.reminders >= 3);
    // Retry is accepted; the step fails again (F98 does not exist) and waits again, reminders starting over.
    const retried = await handle.executeUpdate(operatorDecisionUpdate, { args: [{ action: 'retry' }] });
    assert.deepEqual(retried, { action: 'retry', steps: ['fetching the batch from Bodhi'] });
    await until(async () => (await handle.query(pushStatusQuery)).awaitingOperator[0]?.reminders === 1);
    await saveHistoryIfRecording('push-reminding-after-retry', handle);
    await handle.executeUpdate(operatorDecisionUpdate, { args: [{ action: 'abort', reason: 'no such release' }] });
    await assert.rejects(handle.result(), WorkflowFailedError);
  });

  it('a step in its activity retries waits visibly: the attempt count grows, the run stays open (history saved mid-retry)', async () => {
    // Connection refused: a compose server that is down, which the activity retries with backoff.
    const { handle } = await startComposeDiscovery(env.client, { composeId: 'Fedora-Down-44-20261123.n.0', location: 'http://127.0.0.1:9/compose', pungiStatus: 'FINISHED' }, manualTrigger('compose.discover'));
    const pending = await until(async () => {
      const { raw } = await handle.describe();
      const activity = raw.pendingActivities?.[0];
      return activity && (activity.attempt ?? 0) >= 2 && activity;
    });
    assert.equal(pending.activityType?.name, 'fetchComposeMetadata');
    assert.match(pending.lastFailure?.message ?? '', /ECONNREFUSED|connect|refused/i);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    await saveHistoryIfRecording('discover-compose-retrying', handle);
    await handle.terminate('test over');
  });

  it('an image test no host takes says what it waits for, then ends in error after waitForHost', async () => {
    const compose = newCompose(sandbox, {
      template: 'Fedora-Cloud-27-20180317.0',
      release: { short: 'Fedora-Nohost', version: '44' },
      keepImage: (variant, image) => variant === 'CloudImages' && image.arch === 'x86_64' && image.type === 'qcow2',
    });
    const { handle } = await startComposeTest(env.client, { composeId: compose.composeId, location: compose.location, pungiStatus: 'FINISHED' }, manualTrigger('compose.test'));
    // The job's run, as the results store names it.
    const child = await until(async () => (await db.pool.query<{ workflow_id: string }>('SELECT workflow_id FROM test_jobs WHERE compose_id = $1', [compose.composeId])).rows[0]);
    const imageHandle = env.client.workflow.getHandle(child.workflow_id);
    const waits = await until(async () => {
      const w = await imageHandle.query(waitingForQuery);
      return w.length > 0 && w;
    });
    assert.equal(waits[0]!.for, 'an image-libvirt host to take the job');
    assert.equal(Date.parse(waits[0]!.until!) - Date.parse(waits[0]!.since!), 10_000);
    const parentWaits = await handle.query(waitingForQuery);
    assert.match(parentWaits[0]?.for ?? '', /^1 of 1 image tests/);
    const result = await handle.result();
    assert.equal(result.errored, 1);
    const status = await imageHandle.query(imageTestStatusQuery);
    assert.equal(status.status, 'error');
    assert.equal(status.reason, 'no image-libvirt host took the job within 10 s');
    await saveHistoryIfRecording('compose-test-no-host', handle);
    await saveHistoryIfRecording('image-test-no-host', imageHandle);
  });
});
