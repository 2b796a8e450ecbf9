/**
 * `npm run test:cluster`: releng-o-tron on a real Temporal cluster laid out as deploy/ says
 * (test/cluster/cluster.ts), not the dev server: the bus listener and two releng hosts, each a
 * process as its systemd unit runs it, from an environment shaped like deploy/relengotron.env.
 * Every run completes exactly once and its history replays against the current workflow code.
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

const ENV_FILE = fileURLToPath(new URL('../../../deploy/relengotron.env', import.meta.url));
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const say = (line: string) => console.log(`# ${line}`);

let cluster: Cluster;
let connection: Connection;
let client: Client;
let sandbox: TestSandbox;
let db: TestDatabase;
const units: ChildProcess[] = [];

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
    DATABASE_URL: db.url,
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
    [sandbox, db] = await Promise.all([startTestSandbox(), createTestDatabase()]);
    cluster = await startCluster({ prefix: 'relengotron_cluster', log: say });
    connection = await cluster.connect();
    // What `relengotron up` does on a cluster, once: retention and every search attribute.
    await prepareNamespace(connection, { namespace: cluster.namespace, retentionMs: 90 * 86_400_000 });
    client = new Client({ connection, namespace: cluster.namespace });
    const environment = unitEnvironment();
    units.push(startUnit('releng', environment, say), startUnit('releng', environment, say), startUnit('bus-listener', environment, say));
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 60_000), 'the bus listener subscribed');
    say(`cluster and units up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => {
    await Promise.all(units.map((unit) => stopProcess(unit, 'SIGTERM')));
    await connection?.close();
    await cluster?.stop();
    await Promise.all([db?.drop(), sandbox?.stop()]);
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
});
