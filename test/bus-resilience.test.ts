/**
 * The listener process under failure, as the issue demands: each scenario ends with exactly one
 * run per distinct message and no inbox row left pending. Runs are started for composes that do
 * not exist (nothing needs to execute them: a started run is what counts here).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { createPool, type Pool } from '../common/db.js';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from '../devstack/temporal-dev-server.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { deliveryTestEnv, metricSample, stopProcess } from './helpers/bus.js';
import { waitUntil } from './helpers/until.js';

const LISTENER = fileURLToPath(new URL('../workers/bus-listener.js', import.meta.url));
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const OUTAGE_SECONDS = Number(process.env['TEST_TEMPORAL_OUTAGE_SECONDS'] ?? 30);

let sandbox: TestSandbox;
let temporal: TemporalDevServer;
let temporalOptions: Parameters<typeof startTemporalDevServer>[0];
let connection: Connection;
let client: Client;
let db: TestDatabase;
let listener: ChildProcess | null = null;
let batch = 0;
let metricsPort = 0;

function startListener(): ChildProcess {
  const child = spawn(process.execPath, [LISTENER], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: db.url,
      FEDMSG_ENDPOINTS: sandbox.busEndpoint,
      DATAGREPPER_URL: sandbox.urls.datagrepper,
      FEDMSG_CHECKPOINT_INTERVAL: '200ms',
      RELENGOTRON_BUS_METRICS: `127.0.0.1:${metricsPort}`,
      LOG_LEVEL: process.env['TEST_LISTENER_LOG_LEVEL'] ?? 'error',
      LOG_FORMAT: 'json',
      ...deliveryTestEnv(sandbox),
    },
    stdio: ['ignore', process.env['TEST_LISTENER_LOG_LEVEL'] ? 'inherit' : 'ignore', 'inherit'],
  });
  listener = child;
  return child;
}

async function stopListener(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const child = listener;
  listener = null;
  await stopProcess(child, signal);
}

const until = waitUntil;

const scalar = async (pool: Pool, sql: string, params: unknown[] = []): Promise<number> =>
  (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;

/** Distinct compose IDs of one scenario, each announced as FINISHED. */
function composes(count: number): string[] {
  batch++;
  return Array.from({ length: count }, (_, i) => `Fedora-Rawhide-2026112${batch}.n.${i}`);
}

const announce = (composeId: string) =>
  sandbox.bus!.publish({ topic: TOPIC, msg: { compose_id: composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, status: 'FINISHED' } });

async function runsOf(composeIds: readonly string[]): Promise<number> {
  const prefix = composeIds[0]!.replace(/\.n\.\d+$/, '');
  const { count } = await client.workflow.count(`WorkflowType = 'discoverCompose' AND RelengComposeId STARTS_WITH '${prefix}'`);
  return count;
}

async function expectExactlyOneRunEach(composeIds: readonly string[]): Promise<void> {
  const explain = async () => {
    const states = await db.pool.query<{ state: string; n: number; err: string | null }>(
      'SELECT state, count(*)::int AS n, max(last_error) AS err FROM bus_inbox GROUP BY state',
    );
    return `${await runsOf(composeIds)} of ${composeIds.length} runs; inbox ${JSON.stringify(states.rows)}`;
  };
  await until('one run per message', async () => (await runsOf(composeIds)) === composeIds.length, 60_000, explain);
  await until('an empty inbox', async () => (await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE state = 'pending'`)) === 0);
  for (const id of composeIds) {
    const runs = await client.workflow.count(`WorkflowId = 'compose-discovery/${id}'`);
    assert.equal(runs.count, 1, id);
  }
  assert.equal(await runsOf(composeIds), composeIds.length);
}

async function subscribed(): Promise<void> {
  assert.ok(await sandbox.bus!.waitForSubscribers(1, 30_000), 'the listener subscribed');
  await new Promise((r) => setTimeout(r, 300));
}

describe('bus listener process under failure', () => {
  before(async () => {
    [sandbox, db] = await Promise.all([startTestSandbox(), createTestDatabase()]);
    metricsPort = await freePort();
    temporalOptions = {
      cliPath: resolveTemporalCli(process.env['TEMPORAL_CLI']),
      dataDir: mkdtempSync(join(tmpdir(), 'relengotron-outage-')),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    };
    temporal = await startTemporalDevServer(temporalOptions);
    connection = await Connection.connect({ address: temporal.address });
    await prepareNamespace(connection, { namespace: 'default', retentionMs: 86_400_000 });
    client = new Client({ connection });
  });
  after(async () => {
    await stopListener('SIGKILL');
    await connection.close();
    await temporal.stop();
    await Promise.all([db.drop(), sandbox.stop()]);
  });

  it('survives kill -9 in the middle of a burst: restarted, it re-drives and backfills', async () => {
    startListener();
    await subscribed();
    const ids = composes(300);
    let killedAt = -1;
    for (const [i, id] of ids.entries()) {
      await announce(id);
      await new Promise((r) => setTimeout(r, 5));
      if (killedAt < 0 && (await scalar(db.pool, 'SELECT count(*)::int AS n FROM bus_inbox')) >= 60) {
        killedAt = i;
        listener!.kill('SIGKILL'); // the rest of the burst goes out while nobody listens
      }
    }
    assert.ok(killedAt > 0 && killedAt < ids.length - 1, `killed mid-burst (after ${killedAt + 1} of ${ids.length})`);
    await stopListener('SIGKILL');
    startListener();
    await expectExactlyOneRunEach(ids);
  });

  it('delivers duplicated and reordered messages as one run each', async () => {
    await subscribed();
    const ids = composes(40);
    const envelopes = [];
    for (const id of ids) envelopes.push(await announce(id));
    const shuffled = [...envelopes, ...envelopes.slice(0, 20), ...envelopes.slice(10, 30)].sort(() => Math.random() - 0.5);
    for (const envelope of shuffled) await sandbox.bus!.sendRaw([envelope.topic, JSON.stringify(envelope)]);
    await expectExactlyOneRunEach(ids);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const value = (line: string) => metricSample(metrics, line);
    assert.ok(value('relengotron_bus_messages_total{outcome="duplicate"}') >= 40, metrics);
    assert.equal(value('relengotron_bus_inbox_pending'), 0);
    assert.equal(value('relengotron_bus_connected_publishers'), 1);
    assert.match(metrics, /# TYPE relengotron_bus_runs_started_total counter/);
  });

  it(`keeps everything while Temporal is down for ${OUTAGE_SECONDS} s under load`, async () => {
    await subscribed();
    await temporal.stop();
    const ids = composes(100);
    const publishing = (async () => {
      for (const id of ids) {
        await announce(id);
        await new Promise((r) => setTimeout(r, (OUTAGE_SECONDS * 1000 * 0.8) / ids.length));
      }
    })();
    await new Promise((r) => setTimeout(r, OUTAGE_SECONDS * 1000));
    await publishing;
    assert.equal(await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE topic = $1 AND state = 'pending'`, [TOPIC]), ids.length, 'all stored, none started yet');
    temporal = await startTemporalDevServer(temporalOptions);
    await expectExactlyOneRunEach(ids);
  });

  it('keeps everything across a Postgres restart', async (t) => {
    const cluster = existsSync('/etc/postgresql') ? execFileSync('ls', ['/etc/postgresql']).toString().trim().split('\n')[0] : undefined;
    if (db.kind !== 'postgres' || !cluster) {
      t.skip('needs the machine\'s Postgres cluster (pg_ctlcluster) to restart');
      return;
    }
    await subscribed();
    const ids = composes(60);
    const restarting = (async () => {
      await new Promise((r) => setTimeout(r, 200));
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster, 'main', 'restart'], { stdio: 'ignore' });
    })();
    for (const id of ids) {
      await announce(id);
      await new Promise((r) => setTimeout(r, 30));
    }
    await restarting;
    // The test's own pool lost its connections too.
    const fresh = createPool(db.url, 2);
    try {
      await until('Postgres back', async () => (await fresh.query('SELECT 1')).rowCount === 1);
    } finally {
      await fresh.end();
    }
    await expectExactlyOneRunEach(ids);
    await stopListener();
  });
});
