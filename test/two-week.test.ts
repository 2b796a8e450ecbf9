/**
 * Two-week releases on real parts: composes from the sandbox's compose server tested for real
 * (qemu, the test image), the stream's Schedule made as `relengotron up` makes it and triggered
 * through the CLI, marks and blocks set through the CLI, the release signed by gpg, the stable
 * OSTree ref promoted by the real ostree, the compose rsynced into the stable directory with
 * `latest` swapped, and the begin/complete/out_of_date messages on the bus.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { manualTrigger, startComposeTest } from '../client/start.js';
import { syncTwoWeekSchedules } from '../client/two-week.js';
import { loadConfig, pushPaths, type Config, type PushPaths } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { ensureTestImageArtifacts, testImageFileFor, type TestImageArtifacts } from '../devstack/test-image.js';
import { approveTwoWeekReleaseUpdate, twoWeekStatusQuery, type TwoWeekResult } from '../workflows/index.js';
import { BusSpy } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { startImageWorker, stopImageWorkers, testingConfig } from './helpers/image-workers.js';
import { freePort, newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { until } from './helpers/until.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const RELENG_WORKER = fileURLToPath(new URL('../workers/releng.js', import.meta.url));

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let spy: BusSpy;
let artifacts: TestImageArtifacts;
let paths: PushPaths;
let config: Config;
const key = makeSigningKey('Fedora Cloud two-week (test)');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-twoweek-'));
const configFile = join(dataDir, 'config.json');
const STREAM = 'Fedora-Cloud-28';
const APPROVED = 'Fedora-Cloud-28-approved';
const STALE = 'Fedora-Cloud-28-stale';
const CANDIDATE_REF = 'fedora/28/x86_64/testing/cloud';
const STABLE_REF = 'fedora/28/x86_64/stable/cloud';

/** `relengotron <args>` as an operator runs it, against the test's server, database and config. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cliEnv = { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', DATABASE_URL: db.url, RELENGOTRON_CONFIG: configFile, LOG_LEVEL: 'warn' };
  return run(process.execPath, [CLI, ...args], { env: cliEnv }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

/** A compose of Fedora 28's stream with one Cloud qcow2, tested for real: the test image passes, filler bytes fail. */
async function testedCompose(date: string, passes: boolean): Promise<string> {
  const compose = newCompose(sandbox, {
    template: 'Fedora-28-20180425.0',
    release: { short: 'Fedora', version: '28' },
    type: 'production',
    date,
    keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' && image.type === 'qcow2',
    ...(passes ? { contentFor: (_v: string, image: { type: string }) => readFileSync(testImageFileFor(artifacts, image.type)!) } : {}),
  });
  const { handle } = await startComposeTest(env.client, { composeId: compose.composeId, location: compose.location, pungiStatus: 'FINISHED' }, manualTrigger('compose.test'));
  const result = (await handle.result()) as { status: string; passed: number; failed: number; errored: number };
  assert.equal(result.status, 'complete');
  assert.equal(result.passed > 0 && result.failed + result.errored === 0, passes, JSON.stringify(result));
  return compose.composeId;
}

/** The run of the stream's Schedule not seen before, running or not. */
async function newRunOf(client: Client, stream: string, seenBefore: ReadonlySet<string>, running = false): Promise<string> {
  return until(async () => {
    for await (const w of client.workflow.list({ query: `WorkflowType = 'twoWeekRelease'${running ? ` AND ExecutionStatus = 'Running'` : ''}` })) {
      if (w.workflowId.startsWith(`two-week/${stream}-`) && !seenBefore.has(w.workflowId)) return w.workflowId;
    }
    return null;
  }, 30_000);
}

const seen = new Set<string>();

/** `relengotron twoweek trigger`, then the run it started, followed to its end. */
async function triggerAndWait(stream: string): Promise<{ handle: WorkflowHandle; result: TwoWeekResult }> {
  const triggered = await cli('twoweek', 'trigger', stream);
  assert.equal(triggered.code, 0, triggered.stderr);
  const handle = env.client.workflow.getHandle(await newRunOf(env.client, stream, seen));
  seen.add(handle.workflowId);
  return { handle, result: (await handle.result()) as TwoWeekResult };
}

const ostree = (...args: string[]) => execFileSync('ostree', args, { encoding: 'utf8' }).trim();

describe('two-week releases', () => {
  before(async () => {
    [env, db, artifacts] = await Promise.all([startTemporal(), createTestDatabase(), ensureTestImageArtifacts()]);
    sandbox = await startTestSandbox();
    // One configuration for the in-process worker, the worker process of the crash test and the CLI.
    writeFileSync(configFile, JSON.stringify({
      dataDir,
      push: { signing: { homedir: key.homedir, keyId: key.keyId, ...(key.passphraseFile ? { passphraseFile: key.passphraseFile } : {}) }, ostreeRepo: join(dataDir, 'ostree/repo'), mirrorRoot: join(dataDir, 'mirror'), workDir: join(dataDir, 'work') },
      twoWeek: {
        streams: {
          [STREAM]: { composeStream: 'Fedora-28', stableDir: 'alt/cloud/stable', maxAge: '3650d', ostree: { refs: [{ candidate: CANDIDATE_REF, stable: STABLE_REF }] } },
          [APPROVED]: { composeStream: 'Fedora-28', stableDir: 'alt/cloud/approved', maxAge: '3650d', approval: { approvers: 2, window: '4s' } },
          // Composes dated late November are days old by now: over a one-day limit.
          [STALE]: { composeStream: 'Fedora-28', stableDir: 'alt/cloud/stale', maxAge: '1d' },
        },
      },
    }));
    config = loadConfig({ RELENGOTRON_CONFIG: configFile });
    paths = pushPaths(config);
    worker = await startRelengWorker(env, db.pool, { composeTesting: testingConfig(), push: paths });
    spy = new BusSpy(worker.publishEndpoint);
    startImageWorker(env, 'libvirt', 1);
    // The tree the composes were made with, on the candidate ref (its version as Pungi sets it).
    const tree = join(dataDir, 'tree');
    mkdirSync(join(tree, 'usr/lib'), { recursive: true });
    writeFileSync(join(tree, 'usr/lib/os-release'), 'NAME=Fedora\nVERSION_ID=28\n');
    mkdirSync(paths.ostreeRepo, { recursive: true });
    ostree('init', `--repo=${paths.ostreeRepo}`, '--mode=archive');
    ostree('commit', `--repo=${paths.ostreeRepo}`, `--branch=${CANDIDATE_REF}`, '--add-metadata-string=version=28.20261120.0', `--tree=dir=${tree}`);
    // The Schedules, as `relengotron up` makes them; a second start updates them.
    assert.deepEqual(await syncTwoWeekSchedules(env.client, config, createLogger('twoweek-test', 'warn')), { [STREAM]: 'created', [APPROVED]: 'created', [STALE]: 'created' });
    assert.deepEqual(await syncTwoWeekSchedules(env.client, config, createLogger('twoweek-test', 'warn')), { [STREAM]: 'updated', [APPROVED]: 'updated', [STALE]: 'updated' });
  });
  after(async () => {
    await stopImageWorkers();
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
    stopGpgAgents();
  });

  it('releases the newest compose that passed, skipping a newer failed one: signed, the stable ref moved, synced, announced', async () => {
    const passing = await testedCompose('20261120', true);
    const failing = await testedCompose('20261125', false);
    const status = await cli('twoweek', 'status', STREAM);
    assert.match(status.stdout, new RegExp(`would release: ${passing} \\(its compose test passed \\(1 jobs\\)\\)`), status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`passed over ${failing}: \\d+ failed, \\d+ errored`));

    const { handle, result } = await triggerAndWait(STREAM);
    assert.equal(result.outcome, 'released', result.detail);
    assert.equal(result.composeId, passing);
    assert.deepEqual(result.passedOver.map((p) => p.composeId), [failing]);
    // The stable directory: the compose under its ID, `latest` at it, the CHECKSUM signed and right.
    const stable = join(paths.mirrorRoot, 'alt/cloud/stable');
    assert.equal(readlinkSync(join(stable, 'latest')), passing);
    const images = join(stable, 'latest/Cloud/x86_64/images');
    const checksum = readFileSync(join(images, 'CHECKSUM'), 'utf8');
    assert.match(checksum, /^-----BEGIN PGP SIGNED MESSAGE-----/);
    execFileSync('gpg', ['--homedir', key.homedir, '--verify', join(images, 'CHECKSUM')], { stdio: 'ignore' });
    const image = /SHA256 \((.+\.qcow2)\) = ([0-9a-f]{64})/.exec(checksum)!;
    assert.equal(execFileSync('sha256sum', [join(images, image[1]!)], { encoding: 'utf8' }).split(' ')[0], image[2]);
    // The stable ref is the candidate's commit.
    const candidate = ostree('rev-parse', `--repo=${paths.ostreeRepo}`, CANDIDATE_REF);
    assert.equal(ostree('rev-parse', `--repo=${paths.ostreeRepo}`, STABLE_REF), candidate);
    assert.deepEqual(result.commits, { [STABLE_REF]: candidate });
    // Begin and complete on the bus; the announcement lists the signed CHECKSUM.
    const begin = await spy.waitFor('releng-o-tron.twoweek.begin');
    const complete = await spy.waitFor('releng-o-tron.twoweek.complete');
    assert.equal(begin.envelope.msg['compose_id'], passing);
    assert.equal(complete.envelope.msg['stable'], join(stable, passing));
    assert.equal(complete.envelope.msg['signed_by'], key.keyId);
    assert.match(result.announcement ?? '', new RegExp(`alt/cloud/stable/${passing}/Cloud/x86_64/images/CHECKSUM`));
    assert.match((await cli('twoweek', 'status', STREAM)).stdout, new RegExp(`released: ${passing} at `));
    await saveHistoryIfRecording('two-week-release', handle);

    // Run again with nothing new: nothing is released twice.
    const again = await triggerAndWait(STREAM);
    assert.equal(again.result.outcome, 'already-released');
  });

  it('mark-bad and mark-good change the choice; with nothing eligible the out-of-date alert goes out and nothing is released', async () => {
    const [passing, failing] = [...new Set((await cli('twoweek', 'status', STREAM)).stdout.match(/Fedora-28-2026112[05]\.0/g))].sort();
    assert.equal((await cli('twoweek', 'mark-good', failing!)).code, 1, 'a mark needs a reason');
    const good = await cli('twoweek', 'mark-good', failing!, '--reason', 'the error was the test host, not the image', '--by', 'dustymabe');
    assert.equal(good.stdout, `${failing} marked good by dustymabe: the error was the test host, not the image\n`);
    const chosen = await triggerAndWait(STREAM);
    assert.equal(chosen.result.composeId, failing);
    assert.equal(chosen.result.outcome, 'released');
    assert.match(chosen.result.detail, /marked good by dustymabe: the error was the test host/);
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'alt/cloud/stable/latest')), failing);

    await cli('twoweek', 'mark-bad', failing!, '--reason', 'broken cloud-init', '--by', 'kevin');
    await cli('twoweek', 'mark-bad', passing!, '--reason', 'superseded', '--by', 'kevin');
    const none = await triggerAndWait(STREAM);
    assert.equal(none.result.outcome, 'no-compose');
    assert.equal(none.result.alert?.reason, 'no-passing-compose');
    const alert = await spy.waitFor('releng-o-tron.twoweek.out_of_date', (m) => m.envelope.msg['workflow_id'] === none.handle.workflowId);
    assert.equal(alert.envelope.msg['released'], failing);
    assert.deepEqual(none.result.passedOver.map((p) => p.why), ['marked bad by kevin: broken cloud-init', 'marked bad by kevin: superseded']);
    assert.equal(readlinkSync(join(paths.mirrorRoot, 'alt/cloud/stable/latest')), failing, 'nothing changed');
    await cli('twoweek', 'mark-good', passing!, '--reason', 'retested by hand', '--by', 'kevin');
  });

  it('a blocked stream releases nothing and says why until it is unblocked', async () => {
    const blocked = await cli('twoweek', 'block', STREAM, '--reason', 'waiting for the CVE fix', '--by', 'mohanboddu');
    assert.equal(blocked.stdout, `${STREAM} blocked by mohanboddu: waiting for the CVE fix\n`);
    const held = await triggerAndWait(STREAM);
    assert.equal(held.result.outcome, 'blocked');
    const alert = await spy.waitFor('releng-o-tron.twoweek.out_of_date', (m) => m.envelope.msg['workflow_id'] === held.handle.workflowId);
    assert.equal(alert.envelope.msg['reason'], 'blocked');
    assert.match(String(alert.envelope.msg['detail']), /blocked by mohanboddu since .*: waiting for the CVE fix/);
    assert.equal((await cli('twoweek', 'unblock', STREAM)).stdout, `${STREAM} unblocked\n`);
    const released = await triggerAndWait(STREAM);
    assert.equal(released.result.outcome, 'released');
    assert.match(released.result.detail, /marked good by kevin: retested by hand/);
  });

  it('a worker killed mid-release: a new one resumes the download, and signs and syncs once', async () => {
    const newer = await testedCompose('20261127', true);
    // The releng worker as its own process, on a slow compose server; killed while it downloads the image.
    await worker.stop();
    // The image is the test image earlier releases downloaded: out of the cache, so it is fetched again, at 1 MiB/s (12 s).
    rmSync(join(paths.workDir, 'compose-downloads'), { recursive: true, force: true });
    sandbox.composeFiles.bytesPerSecond = 1024 * 1024;
    const child = spawn(process.execPath, [RELENG_WORKER], {
      env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', DATABASE_URL: db.url, RELENGOTRON_CONFIG: configFile, FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let childErr = '';
    child.stderr.on('data', (d: Buffer) => (childErr += d.toString()));
    try {
      assert.equal((await cli('twoweek', 'trigger', STREAM)).code, 0);
      const handle = env.client.workflow.getHandle(await newRunOf(env.client, STREAM, seen, true));
      seen.add(handle.workflowId);
      await until(async () => (await handle.query(twoWeekStatusQuery)).stage === 'gathering', 60_000).catch((err: Error) => assert.fail(`${err.message}; the worker said: ${childErr.slice(-2000)}`));
      await new Promise((r) => setTimeout(r, 3000));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      sandbox.composeFiles.bytesPerSecond = null;
      worker = await startRelengWorker(env, db.pool, { composeTesting: testingConfig(), push: paths });
      await spy.close();
      spy = new BusSpy(worker.publishEndpoint);
      const result = (await handle.result()) as TwoWeekResult;
      assert.equal(result.outcome, 'released', result.detail);
      assert.equal(result.composeId, newer);
      // The download ran again; signing and the sync each completed once, and the CHECKSUM carries one signature.
      const events = (await handle.fetchHistory()).events ?? [];
      const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]));
      const completed = events.filter((e) => e.activityTaskCompletedEventAttributes).map((e) => scheduled.get(String(e.activityTaskCompletedEventAttributes!.scheduledEventId)));
      const gatherAttempts = events.filter((e) => e.activityTaskStartedEventAttributes && scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)) === 'gatherComposeForRelease').map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      assert.ok(gatherAttempts.some((a) => a > 1), `the download ran again after the kill (attempts ${gatherAttempts.join(', ')})`);
      assert.equal(completed.filter((n) => n === 'signChecksumFile').length, 1);
      assert.equal(completed.filter((n) => n === 'syncToMirror').length, 1);
      const checksum = readFileSync(join(paths.mirrorRoot, 'alt/cloud/stable', newer, 'Cloud/x86_64/images/CHECKSUM'), 'utf8');
      assert.equal(checksum.split('-----BEGIN PGP SIGNED MESSAGE-----').length - 1, 1);
      assert.equal(readlinkSync(join(paths.mirrorRoot, 'alt/cloud/stable/latest')), newer);
      await saveHistoryIfRecording('two-week-resumed', handle);
    } finally {
      sandbox.composeFiles.bytesPerSecond = null;
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it("an approval window: approvals counted, a repeated or mismatched approval refused, the release waits for the second; with none it goes at the window's end", async () => {
    const triggered = await cli('twoweek', 'trigger', APPROVED);
    assert.equal(triggered.code, 0, triggered.stderr);
    const workflowId = await newRunOf(env.client, APPROVED, seen, true);
    seen.add(workflowId);
    const handle = env.client.workflow.getHandle(workflowId);
    const waiting = await until(async () => {
      const s = await handle.query(twoWeekStatusQuery);
      return s.stage === 'approval' ? s : null;
    }, 120_000);
    const composeId = waiting.choice!.chosen!.composeId;
    assert.equal((await cli('twoweek', 'approve', APPROVED, composeId, '--by', 'alice')).stdout, `approved by alice: 1 of 2 approvals for ${composeId} (${workflowId})\n`);
    const twice = await cli('twoweek', 'approve', APPROVED, composeId, '--by', 'alice');
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, new RegExp(`approval refused by ${workflowId}: alice already approved ${composeId}`));
    const other = await cli('twoweek', 'approve', APPROVED, 'Fedora-28-20180425.0', '--by', 'bob');
    assert.match(other.stderr, new RegExp(`the compose was replaced: this run releases ${composeId}, not Fedora-28-20180425.0`));
    await handle.executeUpdate(approveTwoWeekReleaseUpdate, { args: [{ approver: 'bob', composeId, comment: 'booted it on my laptop' }] });
    const result = (await handle.result()) as TwoWeekResult;
    assert.equal(result.outcome, 'released', result.detail);
    assert.deepEqual(result.approvals.map((a) => a.approver), ['alice', 'bob']);
    const late = await cli('twoweek', 'approve', APPROVED, composeId, '--by', 'carol');
    assert.match(late.stderr, /no release of Fedora-Cloud-28-approved is running: nothing waits for an approval/);
    await saveHistoryIfRecording('two-week-approved', handle);

    // A newer passing compose, and nobody approves it: the window (4 s) ends and it goes out.
    const newest = await testedCompose('20261129', true);
    const timedOut = await triggerAndWait(APPROVED);
    assert.equal(timedOut.result.composeId, newest);
    assert.equal(timedOut.result.outcome, 'released', timedOut.result.detail);
    assert.deepEqual(timedOut.result.approvals, []);
    assert.equal(existsSync(join(paths.mirrorRoot, 'alt/cloud/approved', newest)), true);
  });

  it('the newest passing compose is released but older than the limit: the out-of-date alert says so, on this run and the next', async () => {
    const first = await triggerAndWait(STALE);
    assert.equal(first.result.outcome, 'released', first.result.detail);
    assert.equal(first.result.alert?.reason, 'too-old');
    assert.match(first.result.alert?.detail ?? '', new RegExp(`the newest passing compose ${first.result.composeId} is \\d+ days old; the limit is 1`));
    const alert = await spy.waitFor('releng-o-tron.twoweek.out_of_date', (m) => m.envelope.msg['workflow_id'] === first.handle.workflowId);
    assert.equal(alert.envelope.msg['reason'], 'too-old');
    // Still true on the next run, which has nothing new: the alert again.
    const second = await triggerAndWait(STALE);
    assert.equal(second.result.outcome, 'already-released');
    await spy.waitFor('releng-o-tron.twoweek.out_of_date', (m) => m.envelope.msg['workflow_id'] === second.handle.workflowId);
  });
});
