/**
 * Compose testing end to end on real parts: the sandbox serves a compose built from the real
 * Fedora 28 metadata whose cloud images are the test image (qcow2, raw.xz, Vagrant boxes); a
 * pungi message on the sandbox bus starts the run; image workers run as their own processes and
 * boot real VMs under qemu; results land in Postgres and on releng-o-tron's bus.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { libvirtAnswers } from '../activities/libvirt.js';
import { routerFromConfig } from '../bus/router.js';
import { startDashboard } from '../dashboard/server.js';
import type { BusService } from '../bus/service.js';
import { manualTrigger, startComposeTest } from '../client/start.js';
import { DEFAULT_TEST_PLANS } from '../common/compose-testing.js';
import { loadConfig, type ComposeTestingConfig } from '../common/config.js';
import { ciMessageProblems } from '../common/schemas/ci.js';
import { workflowIds } from '../common/workflow-ids.js';
import { ensureTestImageArtifacts, testImageFileFor, type TestImageArtifacts } from '../devstack/test-image.js';
import type { ComposeTestResult } from '../workflows/index.js';
import { BusSpy, testBusService } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { newCompose, startTestSandbox, type NewCompose, type TestSandbox } from './helpers/sandbox.js';
import { startImageWorker, stopImageWorkers, testingConfig, vmRoot } from './helpers/image-workers.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../sandbox/fixtures/messages/', import.meta.url));

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let releng: RunningWorker;
let service: BusService;
let spy: BusSpy;
let artifacts: TestImageArtifacts;

async function until<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface JobRow {
  job_id: string;
  workflow_id: string;
  image_path: string;
  image_type: string;
  provider: string;
  status: string;
  host: string | null;
  attempts: number;
  accelerator: string | null;
  vm_backend: string | null;
  reason: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

async function jobsOf(composeId: string): Promise<JobRow[]> {
  const { rows } = await db.pool.query<JobRow>('SELECT * FROM test_jobs WHERE compose_id = $1 ORDER BY job_id', [composeId]);
  return rows;
}

const qemuProcesses = (pattern = vmRoot): string[] => {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system-x86_64.*${pattern}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** The test image's bytes for each cloud image type; other images keep the factory's filler. */
const testImageBytes = (_variant: string, image: { type: string }) => {
  const file = testImageFileFor(artifacts, image.type);
  return file ? readFileSync(file) : undefined;
};

function bodiesOf(composeId: string, topicSuffix: string): Record<string, unknown>[] {
  return spy.received
    .filter((m) => m.topic.endsWith(topicSuffix))
    .map((m) => m.envelope.msg)
    .filter((body) => body['compose_id'] === composeId || body['id'] === composeId || (body['artifact'] as { id?: string } | undefined)?.id === composeId);
}

async function restartReleng(composeTesting: ComposeTestingConfig): Promise<void> {
  await spy?.close();
  await releng?.stop();
  releng = await startRelengWorker(env, db.pool, { composeTesting });
  spy = new BusSpy(releng.publishEndpoint);
}

describe('compose testing on real VMs', () => {
  before(async () => {
    [env, db, sandbox, artifacts] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox(), ensureTestImageArtifacts()]);
    await restartReleng(testingConfig());
    // The default routing table: a finished compose starts compose-test/<id>.
    service = testBusService(
      { pool: db.pool, client: env.client, sandbox },
      { router: routerFromConfig(loadConfig({ COMPOSE_BASE_URL: sandbox.urls.composes })) },
    );
    service.start();
  });

  afterEach(stopImageWorkers);

  after(async () => {
    await stopImageWorkers();
    await service?.stop();
    await spy?.close();
    await releng?.stop();
    await Promise.all([env?.teardown(), db?.drop(), sandbox?.stop()]);
  });

  it('tests a finished compose from the bus: images chosen by the rules, booted on their providers, results stored and published', async () => {
    const libvirt = startImageWorker(env, 'libvirt', 2);
    startImageWorker(env, 'vbox', 1);
    const compose = newCompose(sandbox, {
      template: 'Fedora-28-20180425.0',
      release: { short: 'Fedora', version: '28' },
      type: 'production',
      keepImage: (variant, image) =>
        (variant === 'Cloud' && image.arch === 'x86_64') ||
        (variant === 'Cloud' && image.arch === 'aarch64' && image.type === 'qcow2') ||
        (variant === 'AtomicHost' && image.arch === 'x86_64' && image.type === 'qcow2') ||
        (variant === 'Container' && image.arch === 'x86_64'),
      contentFor: testImageBytes,
    });
    // The AtomicHost image on the server is not the one images.json describes.
    const imagesJson = join(compose.dir, 'compose/metadata/images.json');
    const metadata = JSON.parse(readFileSync(imagesJson, 'utf8')) as { payload: { images: Record<string, Record<string, { checksums: { sha256: string } }[]>> } };
    metadata.payload.images['AtomicHost']!['x86_64']![0]!.checksums.sha256 = 'a'.repeat(64);
    writeFileSync(imagesJson, JSON.stringify(metadata));

    const envelope = await sandbox.bus!.publish({
      topic: 'org.fedoraproject.prod.pungi.compose.status.change',
      msg: { compose_id: compose.composeId, location: compose.location, status: 'FINISHED', release_version: '28' },
    });
    const handle = env.client.workflow.getHandle(workflowIds.composeTest(compose.composeId));
    await until('the run to start', () => handle.describe().then(() => true, () => false), 30_000);
    const result = (await handle.result()) as ComposeTestResult;
    assert.deepEqual(
      { status: result.status, passed: result.passed, failed: result.failed, errored: result.errored, aborted: result.aborted },
      { status: 'complete', passed: 3, failed: 0, errored: 2, aborted: 0 },
      libvirt.output(),
    );

    // The rules chose Cloud and AtomicHost x86_64 images; the aarch64 and container images were not tested.
    const jobs = await jobsOf(compose.composeId);
    const byFile = Object.fromEntries(jobs.map((j) => [`${j.image_path.split('/').pop()}@${j.provider}`, j]));
    assert.deepEqual(Object.keys(byFile).sort(), [
      'Fedora-AtomicHost-28-20261123.0.x86_64.qcow2@libvirt',
      'Fedora-Cloud-Base-28-20261123.0.x86_64.qcow2@libvirt',
      'Fedora-Cloud-Base-28-20261123.0.x86_64.raw.xz@libvirt',
      'Fedora-Cloud-Base-Vagrant-28-20261123.0.x86_64.vagrant-libvirt.box@libvirt',
      'Fedora-Cloud-Base-Vagrant-28-20261123.0.x86_64.vagrant-virtualbox.box@vbox',
    ]);
    for (const type of ['qcow2', 'raw-xz', 'vagrant-libvirt']) {
      const job = jobs.find((j) => j.image_type === type && j.image_path.startsWith('Cloud/'))!;
      assert.equal(job.status, 'success', `${type}: ${job.reason}`);
      assert.equal(job.host, libvirt.host);
      assert.equal(job.attempts, 1);
      assert.match(job.accelerator ?? '', /^(kvm|tcg)$/);
      // Image hosts use libvirt where libvirtd answers, qemu directly otherwise.
      assert.equal(job.vm_backend, (await libvirtAnswers('qemu:///system')) ? 'libvirt' : 'qemu');
      assert.ok(job.started_at && job.finished_at && job.finished_at > job.started_at);
    }
    const atomic = byFile['Fedora-AtomicHost-28-20261123.0.x86_64.qcow2@libvirt']!;
    assert.equal(atomic.status, 'error');
    assert.equal(atomic.attempts, 2, 'a corrupt download is retried');
    assert.match(atomic.reason!, /^ImageChecksumMismatch: .*got \d+ bytes with sha256 [0-9a-f]{64}; images.json says \d+ bytes with sha256 a{64}/);
    const vbox = byFile['Fedora-Cloud-Base-Vagrant-28-20261123.0.x86_64.vagrant-virtualbox.box@vbox']!;
    assert.equal(vbox.status, 'error');
    assert.equal(vbox.attempts, 2);
    assert.match(vbox.reason!, /^VmUnavailable: VBoxManage is not installed on /);

    // Every command of the default plan, with its output: the reboot really happened.
    const qcow2 = byFile['Fedora-Cloud-Base-28-20261123.0.x86_64.qcow2@libvirt']!;
    const { rows: commands } = await db.pool.query<{ plan_line: number; command: string; exit_code: number | null; passed: boolean; gating: boolean }>(
      'SELECT plan_line, command, exit_code, passed, gating FROM test_job_commands WHERE job_id = $1 ORDER BY plan_line',
      [qcow2.job_id],
    );
    assert.deepEqual(
      commands.map((c) => [c.plan_line, c.exit_code, c.passed, c.gating]),
      [[1, 0, true, true], [2, 0, true, true], [3, 0, true, true], [4, 127, false, false], [5, 255, true, true], [7, 0, true, true], [8, 0, true, true]],
    );
    const { rows: composeRows } = await db.pool.query('SELECT status, passed, failed, errored, aborted, stream, release FROM compose_tests WHERE compose_id = $1', [compose.composeId]);
    assert.deepEqual(composeRows[0], { status: 'complete', passed: 3, failed: 0, errored: 2, aborted: 0, stream: 'Fedora-28', release: '28' });

    // Autocloud's messages, with the reference samples' bodies.
    await spy.waitFor('ci.productmd-compose.test.complete');
    const sample = (name: string) => (JSON.parse(readFileSync(join(REFERENCE, name), 'utf8')) as { msg: Record<string, unknown> }).msg;
    const count = (suffix: string) => bodiesOf(compose.composeId, suffix).length;
    assert.deepEqual(
      ['autocloud.compose.queued', 'autocloud.compose.running', 'autocloud.compose.complete', 'autocloud.image.queued', 'autocloud.image.running', 'autocloud.image.success', 'autocloud.image.failed'].map((t) => [t, count(t)]),
      [['autocloud.compose.queued', 1], ['autocloud.compose.running', 1], ['autocloud.compose.complete', 1], ['autocloud.image.queued', 5], ['autocloud.image.running', 5], ['autocloud.image.success', 3], ['autocloud.image.failed', 2]],
    );
    const success = bodiesOf(compose.composeId, 'autocloud.image.success').find((b) => b['type'] === 'qcow2')!;
    assert.deepEqual(success, {
      compose_id: compose.composeId,
      compose_url: `${compose.location}/Cloud/x86_64/images/Fedora-Cloud-Base-28-20261123.0.x86_64.qcow2`,
      family: 'Base',
      image_name: 'Fedora-Cloud-Base-28-20261123.0',
      job_id: Number(qcow2.job_id),
      release: '28',
      status: 'success',
      type: 'qcow2',
    });
    assert.deepEqual(Object.keys(success).sort(), Object.keys(sample('autocloud.image.success.json')).sort());
    const complete = bodiesOf(compose.composeId, 'autocloud.compose.complete')[0]!;
    assert.deepEqual(Object.keys(complete).sort(), Object.keys(sample('autocloud.compose.complete.json')).sort());
    assert.deepEqual((complete['results'] as { success: number; failed: number }).success, 3);
    assert.deepEqual((complete['results'] as { success: number; failed: number }).failed, 2);
    assert.equal(complete['status'], 'completed');

    // CI messages for the productmd-compose artifact; a job that could not run asks for a look.
    for (const event of ['queued', 'running', 'complete']) {
      const [body] = bodiesOf(compose.composeId, `ci.productmd-compose.test.${event}`);
      assert.ok(body, event);
      assert.deepEqual(ciMessageProblems(`ci.productmd-compose.test.${event}`, body), []);
    }
    const ci = bodiesOf(compose.composeId, 'ci.productmd-compose.test.complete')[0]!;
    assert.equal((ci['test'] as { result: string }).result, 'needs_inspection');
    assert.deepEqual(ci['artifact'], { type: 'productmd-compose', id: compose.composeId, compose_type: 'production' });

    // The dashboard lists the compose, filters its jobs and shows each job's output line by line.
    const dashboard = await startDashboard({ pool: db.pool, listen: '127.0.0.1:0', temporalUi: 'http://127.0.0.1:8233/namespaces/default' });
    try {
      const text = async (path: string) => {
        const response = await fetch(`${dashboard.url}${path}`);
        assert.equal(response.status, 200, path);
        return response.text();
      };
      const composes = await text('/composes');
      assert.match(composes, new RegExp(`${compose.composeId.replace(/\./g, '\\.')}</a></td><td><span class="complete">complete</span>`));
      assert.match(composes, /✓ 3 ✗ 0 ⚠ 2 of 5/);
      const errors = JSON.parse(await text('/api/jobs?status=error')) as { imageType: string }[];
      assert.deepEqual(errors.map((j) => j.imageType).sort(), ['qcow2', 'vagrant-virtualbox']);
      assert.match(await text('/jobs?provider=vbox'), /<option selected>vbox<\/option>/);
      const output = await text(`/jobs/${qcow2.job_id}/output`);
      assert.match(output, /<tr id="L1"><td class="n"><a href="#L1" data-lineno="1">1<\/a><\/td><td><pre>command: test &quot;\$\(hostname\)&quot; != localhost/);
      assert.match(output, /status: False {4}\(exit 127/);
      assert.match(output, /Non gating tests status:<\/pre><\/td><\/tr>\n<tr id="L\d+"><td class="n"><a href="#L\d+" data-lineno="\d+">\d+<\/a><\/td><td><pre>Total:1</);
      assert.equal((await fetch(`${dashboard.url}/jobs/999999/output`)).status, 404);
    } finally {
      await dashboard.stop();
    }

    await saveHistoryIfRecording('compose-test-complete', handle);
    await saveHistoryIfRecording('image-test-success', env.client.workflow.getHandle(workflowIds.imageTest(compose.composeId, 'Fedora-Cloud-Base-28-20261123.0.x86_64.qcow2', 'libvirt')));

    // The run says what started it, and nothing is left running.
    const description = await handle.describe();
    assert.equal(description.searchAttributes['RelengTriggerMsgId']?.[0], envelope.msg_id);
    assert.deepEqual(qemuProcesses(), []);
    assert.deepEqual(readdirSync(vmRoot), []);
    await stopImageWorkers();
  });

  it('a host killed mid-test loses nothing: the job moves to another host and passes (started by hand, by compose ID)', async () => {
    const hosts = [startImageWorker(env, 'libvirt', 1), startImageWorker(env, 'libvirt', 1)];
    const compose = newCompose(sandbox, {
      template: 'Fedora-28-20180425.0',
      release: { short: 'Fedora-Kill', version: '43' },
      keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' && image.type === 'qcow2',
      contentFor: testImageBytes,
    });
    const { stdout } = await run(process.execPath, [CLI, 'compose', 'test', compose.composeId], {
      env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', COMPOSE_BASE_URL: sandbox.urls.composes, LOG_LEVEL: 'warn' },
    });
    assert.equal(stdout.trim(), `started: compose-test/${compose.composeId}`);

    const first = await until('the job to start on a host', async () => (await jobsOf(compose.composeId)).find((j) => j.status === 'running' && j.host));
    const victim = hosts.find((h) => h.host === first.host)!;
    const survivor = hosts.find((h) => h !== victim)!;
    await until('its VM to boot', () => qemuProcesses().length > 0, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    victim.child.kill('SIGKILL');

    const result = (await env.client.workflow.getHandle(workflowIds.composeTest(compose.composeId)).result()) as ComposeTestResult;
    assert.equal(result.passed, 1, survivor.output());
    const [job] = await jobsOf(compose.composeId);
    assert.deepEqual({ status: job!.status, host: job!.host, attempts: job!.attempts }, { status: 'success', host: survivor.host, attempts: 2 });
    await saveHistoryIfRecording('image-test-host-lost', env.client.workflow.getHandle(job!.workflow_id));
    // The killed host's VM died with it, and the next attempt swept its directory.
    assert.deepEqual(qemuProcesses(), []);
    assert.deepEqual(readdirSync(vmRoot), []);
    await stopImageWorkers();
  });

  it('broken metadata or an image path that leaves the compose tree fails the run with the reason, on the bus too', async () => {
    const broken = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0', release: { short: 'Fedora-Broken', version: '43' } });
    writeFileSync(join(broken.dir, 'compose/metadata/images.json'), '{"header": {"type": "productmd.images", "version": "1.2"}, "payload": {"compose": {}, "images": []}}');
    const escaping = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0', release: { short: 'Fedora-Escape', version: '43' } });
    const imagesJson = join(escaping.dir, 'compose/metadata/images.json');
    writeFileSync(imagesJson, readFileSync(imagesJson, 'utf8').replace(/"path": "CloudImages\/x86_64\/images\/[^"]+\.qcow2"/, '"path": "../../../../etc/passwd"'));

    for (const [compose, reason] of [
      [broken, /images.json is not valid productmd metadata: payload.compose.id: .*payload.images: /],
      [escaping, /image path "..\/..\/..\/..\/etc\/passwd" escapes the compose tree/],
    ] as const) {
      const { handle } = await startComposeTest(env.client, { composeId: compose.composeId, location: compose.location, pungiStatus: 'FINISHED' }, manualTrigger('compose.test'));
      await assert.rejects(handle.result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        assert.match(err.cause?.message ?? '', reason);
        return true;
      });
      if (compose === broken) await saveHistoryIfRecording('compose-test-bad-metadata', handle);
      const { rows } = await db.pool.query<{ status: string; reason: string }>('SELECT status, reason FROM compose_tests WHERE compose_id = $1', [compose.composeId]);
      assert.equal(rows[0]?.status, 'error');
      assert.match(rows[0].reason, reason);
      const error = await until('the CI error message', () => bodiesOf(compose.composeId, 'ci.productmd-compose.test.error')[0], 15_000);
      assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.error', error), []);
      assert.match((error['error'] as { reason: string }).reason, reason);
    }
  });

  it('a newer compose of the same stream supersedes the older one: its VM is torn down and its job aborted', async () => {
    // A long plan for qcow2 images (the older compose), a quick one for raw.xz (the newer).
    await restartReleng(
      testingConfig({
        plans: {
          ...Object.fromEntries(Object.entries(DEFAULT_TEST_PLANS).map(([type, plan]) => [type, { ...plan, memoryMb: 256 }])),
          qcow2: { plan: 'hostname\nsleep 300', user: 'fedora', memoryMb: 256 },
          'raw-xz': { plan: 'hostname', user: 'fedora', memoryMb: 256 },
        },
      }),
    );
    startImageWorker(env, 'libvirt', 2);
    const older = newCompose(sandbox, {
      template: 'Fedora-28-20180425.0',
      respin: 0,
      keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' && image.type === 'qcow2',
      contentFor: testImageBytes,
    });
    const newer = newCompose(sandbox, {
      template: 'Fedora-28-20180425.0',
      respin: 1,
      keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' && image.type === 'raw-xz',
      contentFor: testImageBytes,
    });
    const start = (c: NewCompose) => startComposeTest(env.client, { composeId: c.composeId, location: c.location, pungiStatus: 'FINISHED' }, manualTrigger('compose.test'));
    const { handle: olderRun } = await start(older);
    const olderJob = await until('the older compose\'s job to run', async () => (await jobsOf(older.composeId)).find((j) => j.status === 'running'));
    await until('its VM to boot', () => qemuProcesses(`job-${olderJob.job_id}-`).length > 0, 60_000);
    await new Promise((r) => setTimeout(r, 5000));

    const { handle: newerRun } = await start(newer);
    const olderResult = (await olderRun.result());
    assert.deepEqual({ status: olderResult.status, supersededBy: olderResult.supersededBy, aborted: olderResult.aborted }, { status: 'aborted', supersededBy: newer.composeId, aborted: 1 });
    assert.deepEqual(qemuProcesses(`job-${olderJob.job_id}-`), [], 'the older job\'s VM is gone');
    const [aborted] = await jobsOf(older.composeId);
    assert.equal(aborted!.status, 'aborted');
    await saveHistoryIfRecording('compose-test-superseded', olderRun);
    await saveHistoryIfRecording('image-test-aborted', env.client.workflow.getHandle(aborted!.workflow_id));
    const { rows } = await db.pool.query('SELECT status, superseded_by, aborted FROM compose_tests WHERE compose_id = $1', [older.composeId]);
    assert.deepEqual(rows[0], { status: 'aborted', superseded_by: newer.composeId, aborted: 1 });
    await until('autocloud.image.aborted', () => bodiesOf(older.composeId, 'autocloud.image.aborted')[0], 15_000);
    const ciError = await until('the CI error message', () => bodiesOf(older.composeId, 'ci.productmd-compose.test.error')[0], 15_000);
    assert.match((ciError['error'] as { reason: string }).reason, new RegExp(`superseded by ${newer.composeId.replace(/\./g, '\\.')}; 1 of 1 jobs aborted`));

    const newerResult = (await newerRun.result());
    assert.deepEqual({ status: newerResult.status, passed: newerResult.passed }, { status: 'complete', passed: 1 });
    assert.deepEqual(qemuProcesses(), []);
    await stopImageWorkers();
  });
});
