import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { workflowIds } from '../common/workflow-ids.js';
import { manualTrigger, startComposeDiscovery } from '../client/start.js';
import { discoverComposeStatusQuery } from '../workflows/api/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { newCompose, startTestSandbox, type NewCompose, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { saveHistoryIfRecording } from './helpers/histories.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;

function rawhideCompose(respin: number, edit?: (dir: string) => void): NewCompose {
  const made = newCompose(sandbox, {
    template: 'Fedora-28-20180425.0',
    respin,
    keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64',
  });
  edit?.(made.dir);
  return made;
}

async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError, `expected a failed workflow, got ${String(err)}`);
    return String(err.cause?.message);
  }
  assert.fail('the workflow did not fail');
}

describe('discoverCompose on the real Temporal server', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox({ withBus: false })]);
    worker = await startRelengWorker(env, db.pool);
  });
  after(async () => {
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('records a fresh compose and its images, with readable search attributes', async () => {
    const { composeId, location } = rawhideCompose(0);
    const { handle, started } = await startComposeDiscovery(env.client, { composeId, location, pungiStatus: 'FINISHED' }, { msgId: '2026-aaaaaaaa-0000-4000-8000-000000000001', topic: 'org.fedoraproject.prod.pungi.compose.status.change' });
    assert.equal(started, true);
    assert.equal(handle.workflowId, `compose-discovery/${composeId}`);
    const result = await handle.result();
    assert.deepEqual(result, { composeId, release: 'Fedora-Rawhide', metadataVersion: '1.2', variants: ['Cloud'], imageCount: 4 });
    assert.equal((await handle.query(discoverComposeStatusQuery)).stage, 'done');

    const { rows } = await db.pool.query('SELECT compose_id, release_version, image_count, pungi_status FROM composes WHERE compose_id = $1', [composeId]);
    assert.deepEqual(rows, [{ compose_id: composeId, release_version: 'Rawhide', image_count: 4, pungi_status: 'FINISHED' }]);
    const images = await db.pool.query('SELECT count(*)::int AS n, count(sha256)::int AS with_sum FROM compose_images WHERE compose_id = $1', [composeId]);
    assert.deepEqual(images.rows[0], { n: 4, with_sum: 4 });

    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.composeId), composeId);
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.stage), 'done');
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.triggerMsgId), '2026-aaaaaaaa-0000-4000-8000-000000000001');
    assert.equal(await description.staticSummary(), `Discover compose ${composeId} (FINISHED)`);
    await saveHistoryIfRecording('discover-compose-fresh', handle);
  });

  it('reads productmd 1.0 and 1.2 metadata of real composes', async () => {
    for (const [composeId, version, count] of [
      ['Fedora-24-20151130.n.2', '1.0', 11],
      ['Fedora-Cloud-27-20180317.0', '1.2', 4],
    ] as const) {
      const { handle } = await startComposeDiscovery(env.client, { composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, pungiStatus: 'FINISHED' }, manualTrigger('test'));
      const result = await handle.result();
      assert.equal(result.metadataVersion, version);
      assert.equal(result.imageCount, count);
    }
  });

  it('never runs a completed discovery twice for the same compose', async () => {
    const composeId = 'Fedora-Cloud-27-20180317.0';
    const again = await startComposeDiscovery(env.client, { composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    assert.equal(again.started, false);
    const runs = await env.client.workflow.count(`WorkflowId = '${workflowIds.composeDiscovery(composeId)}'`);
    assert.equal(runs.count, 1);
  });

  it('fails clearly, without retrying, on broken metadata', async () => {
    const { composeId, location } = rawhideCompose(1, (dir) => {
      const file = join(dir, 'compose/metadata/images.json');
      const images = JSON.parse(readFileSync(file, 'utf8'));
      images.payload.images.Cloud.x86_64[0].checksums.sha256 = 'not hex!';
      writeFileSync(file, JSON.stringify(images));
    });
    const { handle } = await startComposeDiscovery(env.client, { composeId, location, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    const reason = await failureOf(handle.result());
    assert.match(reason, /images\.json is not valid productmd metadata: payload\.images\.Cloud\.x86_64\.0\.checksums\.sha256/);
    assert.equal((await handle.query(discoverComposeStatusQuery)).stage, 'failed');
    const history = await handle.fetchHistory();
    const attempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.deepEqual(attempts, [1], 'a schema failure is not retried');
    await saveHistoryIfRecording('discover-compose-invalid', handle);
  });

  it('lets a person, never the bus, run a failed discovery again', async () => {
    const composeId = 'Fedora-Rawhide-20180426.n.0';
    const input = { composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, pungiStatus: 'FINISHED' };
    await failureOf((await startComposeDiscovery(env.client, input, manualTrigger('test'))).handle.result());
    const fromBus = await startComposeDiscovery(env.client, input, { msgId: '2026-aaaaaaaa-0000-4000-8000-00000000000f', topic: 'org.fedoraproject.prod.pungi.compose.status.change' });
    assert.equal(fromBus.started, false, 'a re-driven or replayed message starts nothing');
    const byHand = await startComposeDiscovery(env.client, input, manualTrigger('test'));
    assert.equal(byHand.started, true, 'an operator may retry a failed run');
    await failureOf(byHand.handle.result());
  });

  it('refuses an image path that escapes the compose tree', async () => {
    const { composeId, location } = rawhideCompose(2, (dir) => {
      const file = join(dir, 'compose/metadata/images.json');
      const images = JSON.parse(readFileSync(file, 'utf8'));
      images.payload.images.Cloud.x86_64[0].path = '../../../../etc/shadow';
      writeFileSync(file, JSON.stringify(images));
    });
    const { handle } = await startComposeDiscovery(env.client, { composeId, location, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    assert.match(await failureOf(handle.result()), /image path "\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow" escapes the compose tree/);
  });

  it('fails on a compose whose metadata is missing, naming the URL', async () => {
    const composeId = 'Fedora-Rawhide-20180426.n.0';
    const { handle } = await startComposeDiscovery(env.client, { composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    assert.match(await failureOf(handle.result()), /metadata\/composeinfo\.json: 404 Not Found/);
  });

  it('fails when the metadata describes another compose than the message', async () => {
    const { location } = rawhideCompose(3);
    const { handle } = await startComposeDiscovery(env.client, { composeId: 'Fedora-Rawhide-20261123.n.77', location, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    assert.match(await failureOf(handle.result()), /describes compose Fedora-Rawhide-20261123\.n\.3, but the message announced Fedora-Rawhide-20261123\.n\.77/);
  });

  it('retries while the compose server is unreachable, then succeeds', async () => {
    const { composeId } = rawhideCompose(4);
    // A port nobody listens on: the activity fails as retryable and Temporal keeps trying.
    const unreachable = `http://127.0.0.1:9/compose/${composeId}/compose`;
    const { handle } = await startComposeDiscovery(env.client, { composeId, location: unreachable, pungiStatus: 'FINISHED' }, manualTrigger('test'));
    let pending;
    for (let i = 0; i < 100; i++) {
      pending = (await handle.describe()).raw.pendingActivities?.[0];
      if ((pending?.attempt ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok((pending?.attempt ?? 0) >= 2, 'the fetch was retried');
    assert.match(String(pending?.lastFailure?.message), /GET http:\/\/127\.0\.0\.1:9\/.*failed/);
    await handle.terminate('test done');
  });
});

