/**
 * Backpressure: while runs cannot be started (Temporal cut off behind a real TCP proxy), the
 * listener stops taking messages once its inbox reaches the high-water mark, then reads again when
 * it drains, backfills the pause from datagrepper, and still ends with one run per message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { pendingCount } from '../bus/inbox.js';
import { renderMetrics } from '../bus/metrics.js';
import { testBusService } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { startTemporal } from './helpers/temporal.js';

const MESSAGES = 100;
const HIGH_WATER = 20;

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let proxy: TcpProxy;
let connection: Connection;

describe('bus backpressure', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    proxy = await startTcpProxy(env.address);
    connection = Connection.lazy({ address: proxy.address });
  });
  after(async () => {
    await connection.close();
    await proxy.close();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('holds back at the high-water mark and loses nothing', async () => {
    const client = new Client({ connection, namespace: env.namespace ?? 'default' });
    const service = testBusService({ pool: db.pool, client, sandbox }, {
      maxRetryDelayMs: 500,
      backfill: { overlapMs: 60_000, checkpointIntervalMs: 200 },
      backpressure: { highWater: HIGH_WATER, lowWater: 5, receiveQueue: 1000 },
    });
    proxy.cut();
    service.start();
    try {
      assert.ok(await sandbox.bus!.waitForSubscribers(1, 10_000));
      await new Promise((r) => setTimeout(r, 1500));
      for (let n = 0; n < MESSAGES; n++) {
        const composeId = `Fedora-Pressure-20261123.n.${n}`;
        await sandbox.bus!.publish({ topic: 'org.fedoraproject.prod.pungi.compose.status.change', msg: { compose_id: composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, status: 'FINISHED' } });
      }
      // Until the inbox reaches the mark (a loaded machine takes longer), then a moment to show it stops there.
      const filling = Date.now() + 20_000;
      while ((await pendingCount(db.pool)) < HIGH_WATER && Date.now() < filling) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 1500));
      const held = await pendingCount(db.pool);
      assert.ok(held >= HIGH_WATER && held <= HIGH_WATER + 2, `the inbox holds ${held} rows while Temporal is away`);
      const metrics = renderMetrics(await service.metrics());
      assert.match(metrics, /^relengotron_bus_holding_back 1$/m);
      assert.match(metrics, /^relengotron_bus_hold_backs_total 1$/m);

      proxy.restore();
      const deadline = Date.now() + 90_000;
      const query = `WorkflowId STARTS_WITH 'compose-discovery/Fedora-Pressure-'`;
      while ((await env.client.workflow.count(query)).count < MESSAGES || (await pendingCount(db.pool)) > 0) {
        assert.ok(Date.now() < deadline, 'not every message became a run in time');
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal((await env.client.workflow.count(query)).count, MESSAGES);
      // The pressure loop samples the inbox every 250 ms: it lets go within a sample or two.
      while (!/^relengotron_bus_holding_back 0$/m.test(renderMetrics(await service.metrics()))) {
        assert.ok(Date.now() < deadline, 'still holding back after the inbox drained');
        await new Promise((r) => setTimeout(r, 100));
      }
      // On reading again it catches up from datagrepper (once at start, once after the pause).
      while (service.counters.backfills < 2) {
        assert.ok(Date.now() < deadline, `backfills: ${service.counters.backfills}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(DISTINCT workflow_id)::int AS n FROM bus_inbox WHERE workflow_id LIKE 'compose-discovery/Fedora-Pressure-%'`);
      assert.equal(rows[0]!.n, MESSAGES);
    } finally {
      await service.stop();
    }
  });
});
