/**
 * `npm run test:cluster`: releng-o-tron on a real Temporal cluster laid out as deploy/ says
 * (test/cluster/cluster.ts), not the dev server, with hosts apart (test/cluster/network.ts): the
 * Temporal server, two releng hosts and the bus listener each in a network namespace of its own,
 * each process as its systemd unit runs it, from an environment shaped like deploy/relengotron.env;
 * Postgres and the sandbox (Fedora's services) on the machine. Every run completes exactly once
 * and its history replays against the current workflow code.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client, type Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { prepareNamespace } from '../../devstack/temporal-namespace.js';
import { WORKFLOWS_PATH } from '../../workers/run-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { newCompose, startTestSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { deliveryTestEnv, stopProcess } from '../helpers/bus.js';
import { waitUntil } from '../helpers/until.js';
import { readEnvironmentFile, startCluster, startUnit, type Cluster } from './cluster.js';
import { createLab, MACHINE_IP, type Lab } from './network.js';

const ENV_FILE = fileURLToPath(new URL('../../../deploy/relengotron.env', import.meta.url));
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const say = (line: string) => console.log(`# ${line}`);

let cluster: Cluster;
let connection: Connection;
let client: Client;
let sandbox: TestSandbox;
let db: TestDatabase;
let lab: Lab;
const units: Record<string, ChildProcess> = {};
let environment: Record<string, string>;

/**
 * The processes' environment: every key of deploy/relengotron.env, each given this machine's value
 * or left out for a reason. A key added to the file must be placed here, so the tested layout
 * cannot drift from the shipped one unnoticed.
 */
function unitEnvironment(): Record<string, string> {
  const shipped = readEnvironmentFile(ENV_FILE);
  const here: Record<string, string | null> = {
    // The sandbox's services are plain http on 127.0.0.1: the production profile would (rightly) refuse them.
    RELENGOTRON_PROFILE: 'development',
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    ...cluster.clientTls,
    // Postgres listens on the machine's loopback; the hosts reach it through the bridge.
    DATABASE_URL: db.url.replace('@127.0.0.1:', `@${MACHINE_IP}:`),
    FEDMSG_ENDPOINTS: sandbox.busEndpoint,
    FEDMSG_ENVIRONMENT: 'prod',
    // The sandbox's bus is unsigned; signatures have their own tests (bus-trust).
    FEDMSG_VERIFY_SIGNATURES: 'false',
    FEDMSG_CA_CERTS: null,
    RELENGOTRON_BUS_TRANSPORT: 'fedmsg',
    AMQP_URL: null,
    AMQP_QUEUE: null,
    AMQP_CA_CERT: null,
    AMQP_CLIENT_CERT: null,
    AMQP_CLIENT_KEY: null,
    RELENGOTRON_CONFIG: null,
    KOJI_HUB_URL: sandbox.urls.kojiHub,
    KOJI_CLIENT_CERT: null,
    KOJI_CLIENT_KEY: null,
    BODHI_URL: sandbox.urls.bodhi,
    BODHI_OIDC_TOKEN_URL: null,
    BODHI_OIDC_CLIENT_ID: null,
    BODHI_OIDC_CLIENT_SECRET_FILE: null,
    PDC_URL: sandbox.urls.pdc,
    DATAGREPPER_URL: sandbox.urls.datagrepper,
    COMPOSE_BASE_URL: sandbox.urls.composes,
    RELENGOTRON_SHUTDOWN_GRACE: '5s',
    TEMPORAL_RETENTION: '90d',
    LOG_FORMAT: 'json',
    RELENGOTRON_DASHBOARD_LISTEN: null,
    RELENGOTRON_DASHBOARD_URL: null,
    RELENGOTRON_IMAGE_CACHE: null,
    RELENGOTRON_VM_DIR: null,
    KOJI_TOP_URL: sandbox.urls.kojiFiles,
    RELENGOTRON_PUSH_WORK_DIR: null,
    RELENGOTRON_OSTREE_REPO: null,
    RELENGOTRON_MIRROR_ROOT: null,
    RELENGOTRON_PUSH_COMPOSE_URL: null,
    RELENGOTRON_SIGNING_HOMEDIR: null,
    RELENGOTRON_SIGNING_KEY: null,
    RELENGOTRON_SIGNING_PASSPHRASE_FILE: null,
  };
  const unplaced = Object.keys(shipped).filter((key) => !(key in here));
  assert.deepEqual(unplaced, [], `deploy/relengotron.env keys this test does not place: ${unplaced.join(', ')}`);
  const environment = Object.fromEntries(Object.entries(here).filter((entry): entry is [string, string] => entry[1] !== null));
  return { ...environment, ...deliveryTestEnv(sandbox), LOG_LEVEL: process.env['TEST_CLUSTER_LOGS'] ? 'info' : 'warn', RELENGOTRON_BUS_METRICS: '' };
}

/** Announces finished composes (made in the sandbox from a real tree) and returns their runs' IDs. */
async function announce(date: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let respin = 0; respin < count; respin++) {
    const compose = newCompose(sandbox, { template: 'Fedora-28-20180425.0', date, respin });
    await sandbox.bus!.publish({ topic: TOPIC, msg: { compose_id: compose.composeId, location: compose.location, status: 'FINISHED' } });
    ids.push(`compose-discovery/${compose.composeId}`);
  }
  return ids;
}

/**
 * The worker pids (identities are `<pid>@<host>`) that took a run's workflow and activity tasks,
 * and those that completed them: a task taken by a host that then vanished times out and is
 * completed elsewhere.
 */
async function identities(workflowId: string): Promise<{ took: Set<string>; completed: Set<string> }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const took = new Set<string>();
  const completed = new Set<string>();
  const pidOf = (identity: string | null | undefined) => identity?.split('@')[0];
  for (const event of history.events ?? []) {
    const started = pidOf(event.workflowTaskStartedEventAttributes?.identity ?? event.activityTaskStartedEventAttributes?.identity);
    if (started) took.add(started);
    const done = pidOf(event.workflowTaskCompletedEventAttributes?.identity ?? event.activityTaskCompletedEventAttributes?.identity);
    if (done) completed.add(done);
  }
  return { took, completed };
}

/** Every run's history, replayed against the workflow code of this build. */
async function replayAll(workflowIds: readonly string[]): Promise<void> {
  for (const workflowId of workflowIds) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, workflowId);
  }
}

async function completedOnce(workflowIds: readonly string[], timeoutMs: number): Promise<void> {
  await waitUntil(`${workflowIds.length} runs completed`, async () => {
    const { count } = await client.workflow.count(`ExecutionStatus = 'Completed' AND WorkflowId IN (${workflowIds.map((id) => `'${id}'`).join(',')})`);
    return count === workflowIds.length;
  }, timeoutMs, async () => `${(await client.workflow.count(`ExecutionStatus = 'Completed'`)).count} completed in all`);
  for (const id of workflowIds) assert.equal((await client.workflow.count(`WorkflowId = '${id}'`)).count, 1, id);
}

describe('the production layout on a real Temporal cluster', () => {
  before(async () => {
    // Replay workers say only what goes wrong.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const started = Date.now();
    lab = createLab(['temporal', 'releng-a', 'releng-b', 'listener']);
    await lab.expose(5432);
    [sandbox, db] = await Promise.all([startTestSandbox({ host: MACHINE_IP }), createTestDatabase()]);
    cluster = await startCluster({ prefix: 'relengotron_cluster', log: say, host: lab.hosts['temporal']! });
    connection = await cluster.connect();
    // What `relengotron up` does on a cluster, once: retention and every search attribute.
    await prepareNamespace(connection, { namespace: cluster.namespace, retentionMs: 90 * 86_400_000 });
    client = new Client({ connection, namespace: cluster.namespace });
    environment = unitEnvironment();
    units['releng-a'] = startUnit('releng', environment, { host: lab.hosts['releng-a']!, log: say });
    units['releng-b'] = startUnit('releng', environment, { host: lab.hosts['releng-b']!, log: say });
    units['listener'] = startUnit('bus-listener', environment, { host: lab.hosts['listener']!, log: say });
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 60_000), 'the bus listener subscribed');
    say(`cluster and units up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => {
    for (const host of Object.values(lab?.hosts ?? {})) host.heal();
    await Promise.all(Object.values(units).map((unit) => stopProcess(unit, 'SIGKILL')));
    await connection?.close();
    await cluster?.stop();
    await Promise.all([db?.drop(), sandbox?.stop()]);
    await lab?.remove();
  });

  it('takes bus-triggered runs through to the end, and through a Temporal server restart under load', async () => {
    const composes = Array.from({ length: 30 }, (_, respin) => newCompose(sandbox, { template: 'Fedora-28-20180425.0', date: '20261202', respin }));
    const ids = composes.map((c) => `compose-discovery/${c.composeId}`);
    const started = Date.now();
    for (const [index, compose] of composes.entries()) {
      await sandbox.bus!.publish({ topic: TOPIC, msg: { compose_id: compose.composeId, location: compose.location, status: 'FINISHED' } });
      // Half-way, the server goes down hard and comes back on the same databases.
      if (index === 14) {
        await waitUntil('the first runs started', async () => (await client.workflow.count(`WorkflowType = 'discoverCompose'`)).count > 0, 60_000);
        const down = Date.now();
        await cluster.restart('SIGKILL');
        say(`temporal-server killed and back in ${((Date.now() - down) / 1000).toFixed(1)} s`);
      }
    }
    await completedOnce(ids, 300_000);
    say(`${ids.length} bus-triggered runs completed on the cluster in ${((Date.now() - started) / 1000).toFixed(1)} s, across a SIGKILL of temporal-server`);
    await replayAll(ids);
    const inbox = await db.pool.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM bus_inbox GROUP BY state`);
    assert.deepEqual(inbox.rows, [{ state: 'started', n: 30 }]);
  });

  it('moves the work to the survivors when a releng host is killed, and when one is cut off the network and healed', async () => {
    const pid = (name: string) => String(units[name]!.pid);
    // releng-a is killed with SIGKILL: whatever it held (sticky workflow caches, polls) is lost with it.
    units['releng-a']!.kill('SIGKILL');
    const afterKill = await announce('20261203', 15);
    await completedOnce(afterKill, 300_000);
    for (const id of afterKill) assert.deepEqual([...(await identities(id)).completed], [pid('releng-b')], `${id} ran on the survivor`);
    say(`releng-a killed: ${afterKill.length} runs completed on releng-b`);

    // releng-a comes back; releng-b is cut off the network mid-stream (its connections hang, nothing tells the server).
    units['releng-a'] = startUnit('releng', environment, { host: lab.hosts['releng-a']!, log: say });
    const cutAt = Date.now();
    lab.hosts['releng-b']!.cut();
    const whileCut = await announce('20261204', 15);
    await completedOnce(whileCut, 300_000);
    let lostToTheCut = 0;
    for (const id of whileCut) {
      const { took, completed } = await identities(id);
      assert.ok(!completed.has(pid('releng-b')), `${id} completed without the cut-off host`);
      if (took.has(pid('releng-b'))) lostToTheCut++;
    }
    say(`releng-b cut off: ${whileCut.length} runs completed on releng-a in ${((Date.now() - cutAt) / 1000).toFixed(1)} s (${lostToTheCut} had a task taken by releng-b as it was cut; it timed out and ran on releng-a)`);

    // Healed, releng-b polls again and takes its share; nothing ran twice.
    lab.hosts['releng-b']!.heal();
    await new Promise((r) => setTimeout(r, 5000));
    const healed = await announce('20261205', 20);
    await completedOnce(healed, 300_000);
    const ranOn = new Set<string>();
    for (const id of healed) for (const who of (await identities(id)).completed) ranOn.add(who);
    say(`healed: ${healed.length} runs completed, on ${[...ranOn].map((p) => (p === pid('releng-a') ? 'releng-a' : p === pid('releng-b') ? 'releng-b' : p)).join(' and ')}`);
    await replayAll([...afterKill, ...whileCut, ...healed]);
    const inbox = await db.pool.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM bus_inbox GROUP BY state`);
    assert.deepEqual(inbox.rows, [{ state: 'started', n: 80 }]);
  });
});
