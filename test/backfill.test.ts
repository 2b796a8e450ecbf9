import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BusService } from '../bus/service.js';
import { readCheckpoint } from '../bus/inbox.js';
import { BusGateway } from '../sandbox/bus-gateway.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { testBusService } from './helpers/bus.js';
import { waitUntil } from './helpers/until.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let respin = 0;

const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';

function service(): BusService {
  return testBusService({ pool: db.pool, client: env.client, sandbox }, {
    backfill: { overlapMs: 60_000, checkpointIntervalMs: 200 },
  });
}

/** A compose that finished, announced on the bus (or, with `gateway` null, only recorded by datanommer). */
async function announce(gateway: BusGateway | null): Promise<string> {
  const made = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0', respin: respin++ });
  const msg = { compose_id: made.composeId, location: made.location, status: 'FINISHED' };
  if (gateway) await gateway.publish({ topic: TOPIC, msg });
  else sandbox.datagrepper.add({ topic: TOPIC, msg, msg_id: `2026-${crypto.randomUUID()}`, timestamp: Math.floor(Date.now() / 1000), i: 1, username: 'root' });
  return made.composeId;
}

async function runsFor(composeIds: string[]): Promise<number> {
  for (const id of composeIds) await env.client.workflow.getHandle(`compose-discovery/${id}`).result();
  const { count } = await env.client.workflow.count(`WorkflowType = 'discoverCompose'`);
  return count;
}

const until = (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000) => waitUntil(what, check, timeoutMs);

describe('nothing lost while the listener is away', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    worker = await startRelengWorker(env, db.pool);
  });
  after(async () => {
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('backfills from datagrepper what was published while it was down, exactly once', async () => {
    const testStart = Date.now() / 1000 - 1;
    const first = service();
    first.start();
    await until('the first checkpoint', async () => (await readCheckpoint(db.pool, 'fedmsg')) !== null);
    const live = await announce(sandbox.bus);
    await until('the live message', () => first.listener.counters.started === 1);
    await first.stop();

    // Published while nobody listened: lost on ZeroMQ, kept by datagrepper.
    const missed = [await announce(sandbox.bus), await announce(sandbox.bus), await announce(sandbox.bus)];

    const second = service();
    second.start();
    try {
      await until('the backfill', () => second.counters.backfills >= 1 && second.listener.counters.started === 3);
      assert.equal(second.counters.backfilled, 3, 'the three missed messages, and not the live one again');
      assert.equal(await runsFor([live, ...missed]), 4);
      assert.ok(await second.listener.drained(10_000));

      // Replaying the same window again changes nothing.
      // (From this test's start: the sandbox's datagrepper also holds real 2017 traffic.)
      const again = await second.replay({ start: testStart, end: Date.now() / 1000 });
      assert.equal(again.stored, 0);
      assert.ok(again.fetched >= 4);
      assert.equal(await runsFor([]), 4);
    } finally {
      await second.stop();
    }
  });

  it('catches up on a gap when the publisher goes away and comes back', async () => {
    const svc = service();
    svc.start();
    try {
      await until('caught up at start', () => svc.counters.backfills >= 1);
      const before = svc.listener.counters.started;
      await sandbox.bus!.close();
      await new Promise((r) => setTimeout(r, 500));
      // Sent on the bus while this subscriber was cut off from it.
      const missed = [await announce(null), await announce(null)];
      const reopened = await BusGateway.open(sandbox.busEndpoint, sandbox.datagrepper);
      try {
        await until('the gap backfill', () => svc.listener.counters.started >= before + 2, 30_000);
        const live = await announce(reopened);
        await until('live traffic again', () => svc.listener.counters.started >= before + 3);
        assert.equal(await runsFor([...missed, live]), 7);
      } finally {
        await reopened.close();
      }
    } finally {
      await svc.stop();
    }
  });
});
