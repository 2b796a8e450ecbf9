/**
 * Rawhide-style gating end to end on real parts: the sandbox's Koji tags a build into the gate
 * tag and says so on the sandbox bus, the bus service opens the gate, CI result messages reach the
 * waiting run by signal-with-start, the run moves the build in Koji and tells the packager on
 * releng-o-tron's own PUB socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { KojiClient } from '../activities/koji.js';
import type { BusService } from '../bus/service.js';
import { CI_MESSAGE_VERSION } from '../common/schemas/ci.js';
import { workflowIds } from '../common/workflow-ids.js';
import { gateBuildStatusQuery } from '../workflows/api/index.js';
import type { GateBuildResult } from '../workflows/index.js';
import { BusSpy, deliveryTestEnv, testBusService } from './helpers/bus.js';
import { routerFromConfig } from '../bus/router.js';
import { loadConfig } from '../common/config.js';
import { LiveLanes } from '../common/release-config.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { kojiAs, relengLogins, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';

const GATE_TAG = 'f29-updates-testing-pending';
const REQUIRED = 'fedora-ci.koji-build.tier0.functional';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let service: BusService;
let spy: BusSpy;
let koji: KojiClient;

/** A Fedora CI result for a build, shaped as the 1.x spec wants it. */
function ciResult(nvr: string, event: 'complete' | 'error', result: 'passed' | 'failed' = 'passed', testcase = REQUIRED) {
  // ResultsDB's testcase name is namespace.type.category, and the namespace may contain dots.
  const [category, type, ...namespaceParts] = testcase.split('.').reverse();
  const namespace = namespaceParts.reverse().join('.');
  const body: Record<string, unknown> = {
    contact: { name: 'Fedora CI', team: 'fedora-ci', docs: 'https://docs.fedoraproject.org/en-US/ci/', email: 'ci@lists.fedoraproject.org' },
    run: { url: `https://osci-jenkins.example.org/job/fedora-ci/${nvr}/1/`, log: `https://osci-jenkins.example.org/job/fedora-ci/${nvr}/1/console` },
    artifact: { type: 'koji-build', id: 55112233, issuer: 'packager', component: nvr.replace(/-[^-]+-[^-]+$/, ''), nvr, scratch: false },
    pipeline: { id: `pipeline-${nvr}`, name: 'tier0' },
    test: { category, namespace, type, ...(event === 'complete' ? { result } : {}) },
    generated_at: '2026-11-23T10:00:00Z',
    version: CI_MESSAGE_VERSION,
  };
  if (event === 'complete') body['system'] = [{ os: 'fedora-29', provider: 'openstack', architecture: 'x86_64' }];
  else body['error'] = { reason: 'the test VM did not come up' };
  return { topic: `org.centos.prod.ci.koji-build.test.${event}`, msg: body };
}

async function tagIntoGate(nvr: string, owner: string): Promise<void> {
  sandbox.koji.importBuild(nvr, owner);
  const taskId = await koji.call('tagBuild', [GATE_TAG, nvr]);
  assert.equal(typeof taskId, 'number');
}

async function tagsOf(nvr: string): Promise<string[]> {
  const tags = (await koji.call('listTags', [], { build: nvr })) as { name: string }[];
  return tags.map((t) => t.name).sort();
}

async function gateResult(nvr: string): Promise<GateBuildResult> {
  const handle = env.client.workflow.getHandle(workflowIds.gateBuild(GATE_TAG, nvr));
  const deadline = Date.now() + 20_000;
  // The run may not exist yet while its message is still on its way through the inbox.
  for (;;) {
    try {
      return (await handle.result()) as GateBuildResult;
    } catch (err) {
      if (Date.now() > deadline || !/not found/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('gating: buildsys.tag opens a gate, CI results decide it', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    koji = kojiAs(sandbox);
    worker = await startRelengWorker(env, db.pool, { kojiHubUrl: sandbox.urls.kojiHub, logins: relengLogins(sandbox) });
    spy = new BusSpy(worker.publishEndpoint);
    service = testBusService({ pool: db.pool, client: env.client, sandbox }, {
      backfill: { overlapMs: 60_000, checkpointIntervalMs: 500 },
    });
    service.start();
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 10_000));
    await new Promise((r) => setTimeout(r, 300));
  });
  after(async () => {
    await service.stop();
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('moves a build whose required test passed to the release tag and tells its owner', async () => {
    const nvr = 'bash-5.3.0-1.fc29';
    await tagIntoGate(nvr, 'kdudka');
    // An infrastructure error keeps the gate waiting; the re-run's pass settles it.
    await sandbox.bus!.publish(ciResult(nvr, 'error'));
    const handle = env.client.workflow.getHandle(workflowIds.gateBuild(GATE_TAG, nvr));
    await waitFor(async () => {
      const status = await handle.query(gateBuildStatusQuery).catch(() => null);
      return status?.stage === 'awaiting-results' && status.results.length === 1;
    });
    const waiting = await handle.query(gateBuildStatusQuery);
    assert.equal(waiting.stage, 'awaiting-results');
    assert.match(waiting.verdict.reason, /waiting for .*\(error\)/);
    await sandbox.bus!.publish(ciResult(nvr, 'complete', 'passed'));

    const result = await gateResult(nvr);
    assert.equal(result.verdict, 'passed');
    assert.equal(result.toTag, 'f29');
    assert.deepEqual(await tagsOf(nvr), ['f29']);
    const told = await spy.waitFor('releng-o-tron.gating.passed');
    assert.equal(told.topic, 'org.fedoraproject.dev.releng-o-tron.gating.passed');
    assert.equal(told.envelope.msg_id, result.notificationMsgId);
    assert.equal(told.envelope.msg['owner'], 'kdudka');
    assert.equal(told.envelope.msg['nvr'], nvr);
    await saveHistoryIfRecording('gate-build-passed', handle);
  });

  it('quarantines a build whose required test failed', async () => {
    const nvr = 'zsh-5.9-9.fc29';
    await tagIntoGate(nvr, 'kdudka');
    await sandbox.bus!.publish(ciResult(nvr, 'complete', 'failed'));
    const result = await gateResult(nvr);
    assert.equal(result.verdict, 'quarantined');
    assert.match(result.reason, /required test failed: fedora-ci\.koji-build\.tier0\.functional \(failed\)/);
    assert.deepEqual(await tagsOf(nvr), ['f29-quarantine']);
    const told = await spy.waitFor('releng-o-tron.gating.quarantined');
    assert.equal(told.envelope.msg['to_tag'], 'f29-quarantine');
  });

  it('keeps a result that arrives before the tag message, and starts one run for duplicates', async () => {
    const nvr = 'tmux-3.5-1.fc29';
    sandbox.koji.importBuild(nvr, 'sbose');
    const early = await sandbox.bus!.publish(ciResult(nvr, 'complete', 'passed'));
    const handle = env.client.workflow.getHandle(workflowIds.gateBuild(GATE_TAG, nvr));
    await waitFor(async () => (await handle.query(gateBuildStatusQuery).catch(() => null))?.stage === 'awaiting-tag');
    // The same result delivered twice more: the inbox drops the copies.
    await sandbox.bus!.publish({ ...ciResult(nvr, 'complete', 'passed'), msg_id: early.msg_id });
    await sandbox.bus!.sendRaw([Buffer.from(early.topic), Buffer.from(JSON.stringify(early))]);
    await koji.call('tagBuild', [GATE_TAG, nvr]);

    const result = await gateResult(nvr);
    assert.equal(result.verdict, 'passed');
    assert.deepEqual(await tagsOf(nvr), ['f29']);
    const runs = await env.client.workflow.count(`WorkflowId = '${workflowIds.gateBuild(GATE_TAG, nvr)}'`);
    assert.equal(runs.count, 1);
    await saveHistoryIfRecording('gate-build-result-before-tag', handle);

    // A late result for a gate that has decided reaches no run and starts none.
    await sandbox.bus!.publish(ciResult(nvr, 'complete', 'failed'));
    assert.ok(await service.listener.drained(10_000));
    const after = await env.client.workflow.count(`WorkflowId = '${workflowIds.gateBuild(GATE_TAG, nvr)}'`);
    assert.equal(after.count, 1);
    assert.deepEqual(await tagsOf(nvr), ['f29']);
  });

  it('fails with Koji\'s own words when Koji refuses the move', async () => {
    const nvr = 'fish-4.0-1.fc29';
    await koji.call('editTag2', ['f29-quarantine'], { locked: true });
    try {
      await tagIntoGate(nvr, 'kdudka');
      await sandbox.bus!.publish(ciResult(nvr, 'complete', 'failed'));
      await assert.rejects(gateResult(nvr), (err: Error) => {
        assert.match(String(((err.cause as Error | undefined)?.cause as Error | undefined)?.message ?? ''), /Koji moveBuild: tag f29-quarantine is locked \(fault 1003\)/);
        return true;
      });
      assert.deepEqual(await tagsOf(nvr), [GATE_TAG]);
    } finally {
      await koji.call('editTag2', ['f29-quarantine'], { locked: false });
    }
  });

  it('leaves builds tagged elsewhere, and results for other releases, alone', async () => {
    sandbox.koji.importBuild('vim-9.1-1.fc29', 'zdohnal');
    await koji.call('tagBuild', ['f29-updates-candidate', 'vim-9.1-1.fc29']);
    const other = await sandbox.bus!.publish(ciResult('vim-9.1-1.fc45', 'complete', 'passed'));
    const query = `SELECT state, workflow_id, last_error FROM bus_inbox
                   WHERE envelope->'msg'->>'name' = 'vim' OR envelope->'msg'->'artifact'->>'nvr' = 'vim-9.1-1.fc45' ORDER BY received_at`;
    await waitFor(async () => (await db.pool.query(query)).rowCount === 2);
    assert.ok(await service.listener.drained(10_000));
    assert.ok(other.msg_id);
    const { rows } = await db.pool.query<{ state: string; workflow_id: string | null; last_error: string }>(query);
    assert.deepEqual(rows, [
      { state: 'ignored', workflow_id: null, last_error: 'f29-updates-candidate is not a gate tag' },
      { state: 'ignored', workflow_id: null, last_error: 'no gating lane for vim-9.1-1.fc45' },
    ]);
  });
});

describe('gating lanes follow the release lifecycle', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    koji = kojiAs(sandbox);
  });
  after(async () => {
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it("a lane an end of life stopped opens no gate in the listener, once it has read the release configuration", async () => {
    const config = loadConfig(deliveryTestEnv(sandbox));
    const lanes = await new LiveLanes(db.pool, config.gating.lanes).start(200);
    const listening = testBusService({ pool: db.pool, client: env.client, sandbox }, { router: routerFromConfig(config, lanes) });
    listening.start();
    try {
      assert.ok(await sandbox.bus!.waitForSubscribers(1, 10_000));
      await new Promise((r) => setTimeout(r, 300));
      // What `release eol --release F29` writes for the f29 lane.
      await db.pool.query(`INSERT INTO release_config (kind, name, release, value, active, set_by) VALUES ('gating-lane', 'f29', 'F29', NULL, false, 'release-eol/F29')`);
      await waitFor(() => Promise.resolve(!lanes.lanes.some((l) => l.name === 'f29')), 5_000);
      sandbox.koji.importBuild('nano-8.3-1.fc29', 'packager');
      await koji.call('tagBuild', [GATE_TAG, 'nano-8.3-1.fc29']);
      const query = `SELECT state, last_error FROM bus_inbox WHERE envelope->'msg'->>'name' = 'nano'`;
      await waitFor(async () => (await db.pool.query(query)).rowCount === 1);
      assert.ok(await listening.listener.drained(10_000));
      const { rows } = await db.pool.query<{ state: string; last_error: string }>(query);
      assert.deepEqual(rows, [{ state: 'ignored', last_error: `${GATE_TAG} is not a gate tag` }]);
    } finally {
      lanes.stop();
      await listening.stop();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
