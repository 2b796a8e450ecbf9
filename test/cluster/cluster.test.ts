/**
 * `npm run test:cluster`: releng-o-tron on a real Temporal cluster laid out as deploy/ says
 * (test/cluster/cluster.ts), not the dev server, with hosts apart (test/cluster/network.ts): the
 * Temporal server, two releng hosts, two image-libvirt hosts, the bus listener and the dashboard
 * each in a network namespace of its own, each process as its systemd unit runs it, from an
 * environment shaped like deploy/relengotron.env; Postgres and the sandbox (Fedora's services) on
 * the machine's side of the bridge, as the outside world. Every run completes exactly once and its
 * history replays against the workflow code that ran it.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { sandboxLoginEnv } from '../../sandbox/auth.js';
import { ensureTestImageArtifacts, testImageFileFor, type TestImageArtifacts } from '../../devstack/test-image.js';
import { prepareNamespace } from '../../devstack/temporal-namespace.js';
import { TASK_QUEUES } from '../../common/task-queues.js';
import type { ComposeTestResult } from '../../workflows/index.js';
import { WORKFLOWS_PATH } from '../../workers/run-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { makeSigningKey, stopGpgAgents } from '../helpers/gpg.js';
import { testingConfigEnv } from '../helpers/image-workers.js';
import { bodhiPost, newCompose, startTestSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { deliveryTestEnv, stopProcess } from '../helpers/bus.js';
import { until, waitUntil } from '../helpers/until.js';
import { compactTimestamp, workflowIds } from '../../common/workflow-ids.js';
import { readEnvironmentFile, startCluster, startUnit, type Cluster } from './cluster.js';
import { createLab, MACHINE_IP, type Lab } from './network.js';
import { buildRelease, type BuildChange } from './upgrade.js';

const ENV_FILE = fileURLToPath(new URL('../../../deploy/relengotron.env', import.meta.url));
const BODHI_PUSH_MESSAGE = fileURLToPath(new URL('../../../sandbox/fixtures/messages/bodhi.composer.start.json', import.meta.url));
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const say = (line: string) => console.log(`# ${line}`);

let cluster: Cluster;
let connection: Connection;
let client: Client;
let sandbox: TestSandbox;
let db: TestDatabase;
let lab: Lab;
const units: Record<string, ChildProcess> = {};
/** Which host (and build) each worker pid was: histories name workers `<pid>@<hostname>`. */
const whoWas = new Map<string, string>();
let environment: Record<string, string>;
let artifacts: TestImageArtifacts;
/** The tree of the release the rolling upgrade deploys (upgrade.ts). */
let newBuild: string;
/** The build trees the test made, removed at the end. */
const builds: string[] = [];
/** What the releng hosts share, as Fedora's composer hosts share /mnt/koji: push work, the OSTree repository, the mirror. */
const shared = mkdtempSync(join(tmpdir(), 'relengotron-cluster-share-'));
const signingKey = makeSigningKey('Fedora 29 (cluster test)');
const DASHBOARD_PORT = 8236;

/**
 * The processes' environment: every key of deploy/relengotron.env, each given this machine's value
 * or left out for a reason. A key added to the file must be placed here, so the tested layout
 * cannot drift from the shipped one unnoticed.
 */
function unitEnvironment(): Record<string, string> {
  const shipped = readEnvironmentFile(ENV_FILE);
  const dashboardHost = lab.hosts['dashboard']!;
  const dashboardUrl = `http://${dashboardHost.ip}:${DASHBOARD_PORT}`;
  const { KOJI_SERVER_CA, KOJI_LOGIN_URL, ...sandboxLogins } = sandboxLoginEnv(sandbox.credentials, sandbox.urls);
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
    // Koji's certificate login and Bodhi's OIDC client, with the sandbox's releng account.
    ...sandboxLogins,
    BODHI_URL: sandbox.urls.bodhi,
    PDC_URL: sandbox.urls.pdc,
    DATAGREPPER_URL: sandbox.urls.datagrepper,
    COMPOSE_BASE_URL: sandbox.urls.composes,
    RELENGOTRON_SHUTDOWN_GRACE: '5s',
    TEMPORAL_RETENTION: '90d',
    LOG_FORMAT: 'json',
    RELENGOTRON_DASHBOARD_LISTEN: `${dashboardHost.ip}:${DASHBOARD_PORT}`,
    RELENGOTRON_DASHBOARD_URL: dashboardUrl,
    // Each image host gets its own (imageHostEnvironment).
    RELENGOTRON_IMAGE_CACHE: null,
    RELENGOTRON_VM_DIR: null,
    KOJI_TOP_URL: sandbox.urls.kojiFiles,
    RELENGOTRON_PUSH_WORK_DIR: join(shared, 'push'),
    RELENGOTRON_OSTREE_REPO: join(shared, 'ostree', 'repo'),
    RELENGOTRON_MIRROR_ROOT: join(shared, 'mirror'),
    // The dashboard host serves the push composes from the share to the image hosts.
    RELENGOTRON_PUSH_COMPOSE_URL: `${dashboardUrl}/pushes`,
    RELENGOTRON_SIGNING_HOMEDIR: signingKey.homedir,
    RELENGOTRON_SIGNING_KEY: signingKey.keyId,
    RELENGOTRON_SIGNING_PASSPHRASE_FILE: signingKey.passphraseFile ?? null,
  };
  const unplaced = Object.keys(shipped).filter((key) => !(key in here));
  assert.deepEqual(unplaced, [], `deploy/relengotron.env keys this test does not place: ${unplaced.join(', ')}`);
  const environment = Object.fromEntries(Object.entries(here).filter((entry): entry is [string, string] => entry[1] !== null));
  return {
    ...environment,
    // Not in the shipped file: the sandbox's CA and login URL stand in for Fedora's, which the defaults name.
    KOJI_SERVER_CA: KOJI_SERVER_CA!,
    KOJI_LOGIN_URL: KOJI_LOGIN_URL!,
    // Small VMs (test/helpers/image-workers.ts), for the image hosts and the releng hosts that plan their jobs, with
    // room for TCG on a busy machine: each image host boots one VM at a time, and a lost test waits for a free one.
    ...testingConfigEnv({ bootTimeout: '5m', commandTimeout: '2m', hostHeartbeatTimeout: '30s', waitForHost: '20m' }),
    ...deliveryTestEnv(sandbox),
    LOG_LEVEL: process.env['TEST_CLUSTER_LOGS'] ? 'info' : 'warn',
    RELENGOTRON_BUS_METRICS: '',
  };
}

/**
 * An image host's own settings: its cache and VM directory, one VM at a time, and qemu run
 * directly. (The machine's libvirtd lives in the machine's network namespace, not the host's, so
 * its guests' SSH ports would be out of the host's reach; a real libvirt host runs its own.)
 */
function imageHostEnvironment(name: string): Record<string, string> {
  const dir = join(shared, 'hosts', name);
  mkdirSync(join(dir, 'cache'), { recursive: true });
  mkdirSync(join(dir, 'vms'), { recursive: true });
  return { ...environment, RELENGOTRON_DATA_DIR: dir, RELENGOTRON_IMAGE_CACHE: join(dir, 'cache'), RELENGOTRON_VM_DIR: join(dir, 'vms'), RELENGOTRON_LIBVIRT_SLOTS: '1', RELENGOTRON_VM_BACKEND: 'qemu' };
}

/** Starts a unit on its host, as the host's systemd would, and remembers which host its pid is. */
function startOn(hostName: string, unit: string, env: Record<string, string>, root?: string): ChildProcess {
  const child = startUnit(unit, env, { host: lab.hosts[hostName]!, log: say, ...(root ? { root } : {}) });
  units[hostName] = child;
  whoWas.set(String(child.pid), root ? `${hostName} (new build)` : hostName);
  return child;
}

/** Waits until a unit polls its task queue (since a moment, when given): it is up when it can take work. */
async function polling(child: ChildProcess, taskQueue: string, kind: 'workflow' | 'activity', since?: number): Promise<void> {
  await waitUntil(`pid ${child.pid} polling ${taskQueue}`, async () => {
    const { pollers } = await connection.workflowService.describeTaskQueue({ namespace: cluster.namespace, taskQueue: { name: taskQueue }, taskQueueType: kind === 'workflow' ? 1 : 2 });
    return (pollers ?? []).some(
      (poller) => poller.identity?.split('@')[0] === String(child.pid) && (since === undefined || Number(poller.lastAccessTime?.seconds?.toString() ?? 0) * 1000 >= since - 1000),
    );
  }, 120_000);
}

/** Restarts the bus listener (SIGTERM, then its unit again) and waits until it has subscribed. */
async function restartListener(env: Record<string, string>, root?: string): Promise<void> {
  await stopProcess(units['listener']!, 'SIGTERM');
  await waitUntil('the old listener unsubscribed', () => sandbox.bus!.subscriberCount === 0, 30_000);
  startOn('listener', 'bus-listener', env, root);
  assert.ok(await sandbox.bus!.waitForSubscribers(1, 60_000), 'the bus listener subscribed');
}

/** Announces finished composes (made in the sandbox from a real tree) and returns their runs' IDs. */
async function announce(date: string, count: number, firstRespin = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let respin = firstRespin; respin < firstRespin + count; respin++) {
    const compose = newCompose(sandbox, { template: 'Fedora-28-20180425.0', date, respin });
    await sandbox.bus!.publish({ topic: TOPIC, msg: { compose_id: compose.composeId, location: compose.location, status: 'FINISHED' } });
    ids.push(`compose-discovery/${compose.composeId}`);
  }
  return ids;
}

/**
 * The worker pids (identities are `<pid>@<host>`) that took a run's workflow and activity tasks,
 * those that completed them (a task taken by a host that then vanished times out and is completed
 * elsewhere), and the one that completed its last workflow task (the run's end).
 */
async function identities(workflowId: string): Promise<{ took: Set<string>; completed: Set<string>; last: string | undefined }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const took = new Set<string>();
  const completed = new Set<string>();
  let last: string | undefined;
  const pidOf = (identity: string | null | undefined) => identity?.split('@')[0];
  for (const event of history.events ?? []) {
    const started = pidOf(event.workflowTaskStartedEventAttributes?.identity ?? event.activityTaskStartedEventAttributes?.identity);
    if (started) took.add(started);
    const done = pidOf(event.workflowTaskCompletedEventAttributes?.identity ?? event.activityTaskCompletedEventAttributes?.identity);
    if (done) completed.add(done);
    last = pidOf(event.workflowTaskCompletedEventAttributes?.identity) ?? last;
  }
  return { took, completed, last };
}

/** Every run's history, replayed against the workflow code of a build (this checkout's unless said). */
async function replayAll(workflowIds: readonly string[], workflowsPath = WORKFLOWS_PATH): Promise<void> {
  for (const workflowId of workflowIds) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath }, history, workflowId);
  }
}

/**
 * The next release's workflow change for the rolling upgrade: the compose test notes the build
 * that started it, before its first step. `guarded` puts it behind patched(), as deploy/README says
 * a change to running workflows must be; unguarded, it is the mistake the guard prevents.
 */
const UPGRADE_PATCH = 'cluster-test-rolling-upgrade';
function upgradeChange(guarded: boolean): BuildChange {
  const note = `upsertMemoForUpgrade({ deployedBuild: 'v2' });`;
  return {
    file: 'dist/workflows/compose-test.js',
    anchor: 'const run = new ComposeTestRun(input);',
    header: `import { upsertMemo as upsertMemoForUpgrade } from '@temporalio/workflow';\n`,
    change: guarded ? `\n    if (patched('${UPGRADE_PATCH}')) ${note}` : `\n    ${note}`,
  };
}

interface JobRow {
  job_id: string;
  reason: string | null;
  compose_id: string;
  workflow_id: string;
  status: string;
  host: string | null;
  attempts: number;
}

/** The image-test jobs of composes, from the results store. */
async function jobsOf(composeIds: readonly string[]): Promise<JobRow[]> {
  const { rows } = await db.pool.query<JobRow>('SELECT job_id, compose_id, workflow_id, status, host, attempts, reason FROM test_jobs WHERE compose_id = ANY($1) ORDER BY compose_id, job_id', [composeIds]);
  return rows;
}

/** qemu processes whose command line names a directory (an image host's VM directory). */
function qemuProcesses(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system-x86_64.*${dir}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Makes a compose of its own stream whose one x86_64 cloud image boots (the test image), announces it finished; returns its ID. */
async function announceForTesting(stream: string): Promise<string> {
  const compose = newCompose(sandbox, {
    template: 'Fedora-28-20180425.0',
    release: { short: stream, version: '43' },
    keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' && image.type === 'qcow2',
    contentFor: (_variant, image) => {
      const file = testImageFileFor(artifacts, image.type);
      return file ? readFileSync(file) : undefined;
    },
  });
  await sandbox.bus!.publish({ topic: TOPIC, msg: { compose_id: compose.composeId, location: compose.location, status: 'FINISHED', release_version: '43' } });
  return compose.composeId;
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
    lab = createLab(['temporal', 'releng-a', 'releng-b', 'listener', 'dashboard', 'image-a', 'image-b']);
    await lab.expose(5432);
    [db, artifacts] = await Promise.all([createTestDatabase(), ensureTestImageArtifacts()]);
    // Koji's image builds hand out the real test image, so a push's images boot on the image hosts.
    sandbox = await startTestSandbox({ host: MACHINE_IP, imageFile: (format) => testImageFileFor(artifacts, format) });
    cluster = await startCluster({ prefix: 'relengotron_cluster', log: say, host: lab.hosts['temporal']! });
    connection = await cluster.connect();
    // What `relengotron up` does on a cluster, once: retention and every search attribute.
    await prepareNamespace(connection, { namespace: cluster.namespace, retentionMs: 90 * 86_400_000 });
    client = new Client({ connection, namespace: cluster.namespace });
    environment = unitEnvironment();
    startOn('releng-a', 'releng', environment);
    startOn('releng-b', 'releng', environment);
    startOn('listener', 'bus-listener', environment);
    startOn('dashboard', 'dashboard', environment);
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 60_000), 'the bus listener subscribed');
    await waitUntil('the dashboard answering', async () => (await fetch(environment['RELENGOTRON_DASHBOARD_URL']!)).ok, 60_000);
    say(`cluster and units up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => {
    // Every step runs, whatever an earlier one threw: a failed run must not leave hosts, servers or databases behind.
    const steps: (() => unknown)[] = [
      () => Promise.all(Object.values(units).map((unit) => stopProcess(unit, 'SIGKILL'))),
      () => connection?.close(),
      () => cluster?.stop(),
      () => db?.drop(),
      () => sandbox?.stop(),
      () => lab?.remove(),
      () => stopGpgAgents(),
      () => [shared, ...builds].forEach((dir) => rmSync(dir, { recursive: true, force: true })),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await Promise.resolve().then(step).catch((err: unknown) => failures.push(err));
    if (failures.length) throw new AggregateError(failures, 'cleaning up the cluster test');
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
    // releng-a is killed with SIGKILL mid-burst: what it held (sticky workflow caches, tasks it had taken) is lost with it.
    const killed = pid('releng-a');
    const burst = await announce('20261203', 5);
    // Killed once it has taken part of the burst's work.
    await waitUntil('releng-a to take a task of the burst', async () => {
      for (const id of burst) if ((await identities(id)).took.has(killed)) return true;
      return false;
    }, 60_000);
    const exited = new Promise((resolve) => units['releng-a']!.once('exit', resolve));
    units['releng-a']!.kill('SIGKILL');
    await exited;
    // A completion releng-a sent just before it died may be recorded a moment later.
    const killedAt = Date.now() + 1000;
    const afterKill = [...burst, ...(await announce('20261203', 10, 5))];
    await completedOnce(afterKill, 300_000);
    let finishedBySurvivor = 0;
    let touchedByKilled = 0;
    for (const id of afterKill) {
      const closed = (await client.workflow.getHandle(id).describe()).closeTime!.getTime();
      const { took, last } = await identities(id);
      if (took.has(killed)) touchedByKilled++;
      if (closed < killedAt) continue;
      assert.equal(last, pid('releng-b'), `${id}, open when releng-a was killed, finished on the survivor`);
      finishedBySurvivor++;
    }
    assert.ok(touchedByKilled > 0, 'releng-a had taken part of the work when it was killed');
    say(`releng-a killed mid-burst: ${afterKill.length} runs completed, ${finishedBySurvivor} of them finished on releng-b after the kill (${touchedByKilled} had tasks on releng-a)`);

    // releng-a comes back; releng-b is cut off the network mid-stream (its connections hang, nothing tells the server).
    startOn('releng-a', 'releng', environment);
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
    const healedAt = Date.now();
    lab.hosts['releng-b']!.heal();
    await polling(units['releng-b']!, TASK_QUEUES.releng, 'workflow', healedAt);
    const healed = await announce('20261205', 20);
    await completedOnce(healed, 300_000);
    const ranOn = new Set<string>();
    for (const id of healed) for (const who of (await identities(id)).completed) ranOn.add(who);
    assert.ok(ranOn.has(pid('releng-b')), 'the healed host took work again');
    say(`healed: ${healed.length} runs completed, on ${[...ranOn].map((p) => (p === pid('releng-a') ? 'releng-a' : p === pid('releng-b') ? 'releng-b' : p)).join(' and ')}`);
    await replayAll([...afterKill, ...whileCut, ...healed]);
    const inbox = await db.pool.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM bus_inbox GROUP BY state`);
    assert.deepEqual(inbox.rows, [{ state: 'started', n: 80 }]);
  });

  it('tests composes from the bus on the image hosts through a rolling upgrade of the releng hosts, and moves a test off an image host killed mid-boot', async () => {
    // The production routing table from here on: a finished compose starts its compose test.
    const { RELENGOTRON_BUS_ROUTES: _discoveryOnly, ...production } = environment;
    environment = production;
    await restartListener(environment);

    // Two composes are announced while no image host is up: their tests wait for a host, in flight.
    const inFlight = [await announceForTesting('Fedora-Inflight-A'), await announceForTesting('Fedora-Inflight-B')];
    await waitUntil('both image tests waiting for a host', async () => (await client.workflow.count(`WorkflowType = 'imageTest' AND ExecutionStatus = 'Running'`)).count === 2, 120_000);

    // The next release changes the compose test's first step, guarded by patched(); it is deployed host by host.
    const upgradeStarted = Date.now();
    const release = buildRelease('v2', [upgradeChange(true)]);
    newBuild = release;
    builds.push(release);
    for (const name of ['releng-a', 'releng-b']) {
      await stopProcess(units[name]!, 'SIGTERM');
      await polling(startOn(name, 'releng', environment, release), TASK_QUEUES.releng, 'workflow');
    }
    await restartListener(environment, release);
    say(`rolling upgrade: releng-a, releng-b and the listener on the new build in ${((Date.now() - upgradeStarted) / 1000).toFixed(1)} s, 2 compose tests in flight`);
    const upgraded = await announceForTesting('Fedora-Upgraded');

    // The image hosts come up; the one that takes the first test is killed once its VM is booting.
    const imageHosts = ['image-a', 'image-b'];
    for (const name of imageHosts) startOn(name, 'image-libvirt', imageHostEnvironment(name), release);
    const composeIds = [...inFlight, upgraded];
    const first = await until(async () => (await jobsOf(composeIds)).find((job) => job.status === 'running' && job.host), 300_000);
    const victim = imageHosts.find((name) => first.host!.endsWith(`/${units[name]!.pid}`))!;
    const survivor = imageHosts.find((name) => name !== victim)!;
    const victimVms = join(shared, 'hosts', victim, 'vms');
    await waitUntil(`its VM booting on ${victim}`, () => qemuProcesses(victimVms).length > 0, 120_000);
    await new Promise((r) => setTimeout(r, 3000));
    const killedPid = String(units[victim]!.pid);
    units[victim]!.kill('SIGKILL');
    const killedAt = Date.now();
    // The test whose VM went down with the host.
    const lost = (await jobsOf(composeIds)).find((job) => job.status === 'running' && job.host === first.host);
    assert.ok(lost, `a test was running on ${victim} when it was killed`);
    // The survivor runs one VM at a time: the lost test may wait for the one it is running (TCG boots are slow).
    const moved = await until(async () => (await jobsOf(composeIds)).find((job) => job.job_id === lost.job_id && job.host !== lost.host && job.status === 'running'), 600_000);
    assert.ok(moved.host!.endsWith(`/${units[survivor]!.pid}`), `the test moved to ${survivor}`);
    say(`${victim} killed mid-boot: its test resumed on ${whoWas.get(moved.host!.split('/').pop()!)} after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    assert.deepEqual(qemuProcesses(victimVms), [], "the killed host's VM died with it");
    // The host comes back (systemd's Restart=on-failure) and takes its share again.
    startOn(victim, 'image-libvirt', imageHostEnvironment(victim), release);

    for (const composeId of composeIds) {
      const result = (await client.workflow.getHandle(workflowIds.composeTest(composeId)).result()) as ComposeTestResult;
      const why = (await jobsOf([composeId])).map((job) => `${job.status} on ${job.host} after ${job.attempts} attempt(s): ${job.reason ?? ''}`).join('; ');
      assert.deepEqual({ status: result.status, passed: result.passed, failed: result.failed, errored: result.errored }, { status: 'complete', passed: 1, failed: 0, errored: 0 }, `${composeId}: ${why}`);
    }
    const jobs = await jobsOf(composeIds);
    const killedJob = jobs.find((job) => job.job_id === lost.job_id)!;
    assert.deepEqual({ status: killedJob.status, attempts: killedJob.attempts }, { status: 'success', attempts: 2 });
    assert.ok(!killedJob.host?.endsWith(`/${killedPid}`), 'the lost test did not end on the killed host');
    say(`compose tests: ${jobs.map((job) => `${job.compose_id} passed on ${whoWas.get(job.host!.split('/').pop()!)}`).join('; ')}`);

    // The runs in flight replayed the old first step on the new build (no marker); the new run took the new one.
    const testIds = composeIds.map((id) => workflowIds.composeTest(id));
    for (const [index, workflowId] of testIds.entries()) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const marked = (history.events ?? []).some((event) =>
        Object.values(event.markerRecordedEventAttributes?.details ?? {}).some((details) => (details.payloads ?? []).some((payload) => Buffer.from(payload.data ?? []).toString('utf8').includes(UPGRADE_PATCH))),
      );
      const memo = (await client.workflow.getHandle(workflowId).describe()).memo ?? {};
      const build = memo['deployedBuild'];
      assert.equal(marked, index === 2, `${workflowId}: patch marker`);
      assert.equal(build, index === 2 ? 'v2' : undefined, `${workflowId}: the build noted in its memo`);
      const { completed } = await identities(workflowId);
      assert.ok([...completed].some((pid) => whoWas.get(pid)?.endsWith('(new build)')), `${workflowId} went on on the new build`);
    }
    const histories = [...testIds, ...jobs.map((job) => job.workflow_id)];
    const newBuildWorkflows = join(release, 'dist', 'workflows', 'index.js');
    await replayAll(histories, newBuildWorkflows);
    // The same change without patched() would have broken the runs in flight.
    const unguardedBuild = buildRelease('v2-unguarded', [upgradeChange(false)]);
    builds.push(unguardedBuild);
    const unguarded = join(unguardedBuild, 'dist', 'workflows', 'index.js');
    for (const workflowId of testIds.slice(0, 2)) {
      await assert.rejects(replayAll([workflowId], unguarded), (err: Error) => err.name === 'DeterminismViolationError', workflowId);
    }
    say(`${histories.length} histories replay on the new build; the 2 in flight fail to replay on the same change made without patched()`);
  });

  it("takes Bodhi's push across the hosts: builds moved by one releng host or the other, images booted on the image hosts, served by the dashboard host, signed, synced and announced", async () => {
    const started = Date.now();
    const requested = await bodhiPost(sandbox, '/updates/FEDORA-2019-492d24f0ef/request', { request: 'stable' }, 'packager');
    assert.equal(requested.status, 200);
    const real = JSON.parse(readFileSync(BODHI_PUSH_MESSAGE, 'utf8')) as { topic: string; msg: Record<string, unknown> };
    // Bodhi's real message, sent now: the listener refuses one older than bus.maxMessageAge as a possible replay.
    const sent = await sandbox.bus!.publish({ topic: real.topic, msg: real.msg });
    // The push is named after the message's time.
    const pushId = compactTimestamp(new Date(sent.timestamp * 1000));
    const ids = [`bodhi-push/${pushId}`, `push/F29-stable/${pushId}`, `push/F29-testing/${pushId}`];
    await completedOnce(ids, 900_000);
    const stable = (await client.workflow.getHandle(ids[1]!).result()) as {
      artifacts: { artifact: string; state: string }[];
      tests: { artifact: string; outcome: string }[];
      compose: { compose_id: string } | null;
    };
    assert.deepEqual(stable.artifacts.filter((a) => a.state === 'composed').map((a) => a.artifact), [
      'cloud-qcow2/Fedora-Cloud-Base.x86_64',
      'ostree/fedora-iot.aarch64',
      'ostree/fedora-iot.x86_64',
      'vagrant-libvirt/Fedora-Cloud-Base-Vagrant.x86_64',
    ]);
    assert.deepEqual(stable.tests.map((t) => t.outcome), ['success', 'success']);
    // The images were fetched from the dashboard host and booted on the image hosts.
    const jobs = await jobsOf([stable.compose!.compose_id]);
    assert.deepEqual(jobs.map((job) => job.status), ['success', 'success']);
    const imageHostsUsed = new Set(jobs.map((job) => whoWas.get(job.host!.split('/').pop()!)));
    // Signed and synced into the mirror on the share; Bodhi says the update is stable.
    const mirror = environment['RELENGOTRON_MIRROR_ROOT']!;
    assert.equal(readlinkSync(join(mirror, 'updates/29/Cloud/x86_64/images/latest')), pushId);
    const verified = execFileSync('gpg', ['--homedir', signingKey.homedir, '--status-fd', '1', '--verify', join(mirror, 'updates/29/Cloud/x86_64/images/latest/CHECKSUM')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(verified, new RegExp(`VALIDSIG ${signingKey.fingerprint}`));
    const kernel = (await (await fetch(`${sandbox.urls.bodhi}/updates/FEDORA-2019-492d24f0ef`)).json()) as { update: { status: string } };
    assert.equal(kernel.update.status, 'stable');
    // Which releng hosts did the push's work.
    const relengHosts = new Set<string>();
    for (const id of ids) for (const pid of (await identities(id)).completed) relengHosts.add(whoWas.get(pid) ?? pid);
    say(`push completed in ${((Date.now() - started) / 1000).toFixed(1)} s: workflow and activity tasks on ${[...relengHosts].sort().join(', ')}; images tested on ${[...imageHostsUsed].sort().join(', ')}`);
    // They ran on the new build the releng hosts were upgraded to.
    await replayAll([...ids, ...jobs.map((job) => job.workflow_id)], join(newBuild, 'dist', 'workflows', 'index.js'));
  });
});
