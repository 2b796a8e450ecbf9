/**
 * Branching a release from rawhide through the real CLI and workflow, against the sandbox's Koji
 * and Bodhi with their logins enforced: the plan (and its dry run), the refusals, a failed Bodhi
 * step aborted by an operator that leaves Koji as it was, then the branch itself, checked
 * through the same APIs (getTag, getInheritanceData, getBuildTarget, GET /releases/).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { KojiClient } from '../activities/koji.js';
import { createBodhiActivities } from '../activities/bodhi.js';
import { createReleaseActivities, BRANCH_STEPS, EOL_STEPS } from '../activities/release.js';
import { createPdcActivities } from '../activities/pdc.js';
import { loadConfig, type PushPaths } from '../common/config.js';
import type { BranchPlan } from '../common/release-branch.js';
import type { EolPlan } from '../common/release-eol.js';
import { workflowIds } from '../common/workflow-ids.js';
import type { XmlRpcValue } from '../common/xmlrpc.js';
import { sandboxLoginEnv } from '../sandbox/auth.js';
import { releaseSagaStatusQuery, type CompensationReport } from '../workflows/api/index.js';
import { BusSpy } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { bodhiLogin, freePort, kojiAs, kojiLogin, newCompose, relengLogins, startTestSandbox, TEST_HTTP, type TestSandbox } from './helpers/sandbox.js';
import { LiveLanes } from '../common/release-config.js';
import { manualTrigger, startComposeTest } from '../client/start.js';
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
let koji: KojiClient;
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-release-'));
/** The config file's lanes: the sandbox's f29 lane and a lane gating rawhide (f45) builds. */
const LANES = [
  ...loadConfig({}).gating.lanes,
  { name: 'rawhide', gateTag: 'f45-updates-testing-pending', releaseTag: 'f45', quarantineTag: 'f45-quarantine', distTag: 'fc45', requiredTests: ['fedora-ci.koji-build.tier0.functional'], resultTimeout: '6h' },
];
const paths: PushPaths = {
  ostreeRepo: join(dataDir, 'ostree/repo'), workDir: join(dataDir, 'work'), composeRoot: join(dataDir, 'work/composes'), composeUrl: 'http://127.0.0.1:9/pushes',
  mirrorRoot: join(dataDir, 'mirror'), archiveRoot: join(dataDir, 'archive'), signingKey: undefined,
};

/** What every releng-o-tron process of this test is configured with. */
function cliEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn',
    KOJI_HUB_URL: sandbox.urls.kojiHub, BODHI_URL: sandbox.urls.bodhi, PDC_URL: sandbox.urls.pdc, ...sandboxLoginEnv(sandbox.credentials, sandbox.urls),
    RELENGOTRON_GATING_LANES: JSON.stringify(LANES),
    RELENGOTRON_MIRROR_ROOT: paths.mirrorRoot, RELENGOTRON_ARCHIVE_ROOT: paths.archiveRoot, RELENGOTRON_OSTREE_REPO: paths.ostreeRepo,
  };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: cliEnvironment() }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

const struct = (v: XmlRpcValue) => v as Record<string, string | number>;
const tagExists = async (name: string) => (await koji.call('getTag', [name])) !== null;
const parents = async (name: string) => ((await koji.call('getInheritanceData', [name])) as Record<string, string | number>[]).map((l) => `${l['name']}:${l['priority']}`);
const target = async (name: string) => {
  const t = await koji.call('getBuildTarget', [name]);
  return t ? `${struct(t)['build_tag_name']} -> ${struct(t)['dest_tag_name']}` : null;
};
const bodhiRelease = async (name: string) => {
  const response = await fetch(`${sandbox.urls.bodhi}/releases/${name}`);
  return response.status === 404 ? null : ((await response.json()) as Record<string, unknown>);
};

/** Koji's and Bodhi's side of rawhide F45 before any branch. */
async function rawhideUntouched(): Promise<void> {
  for (const name of ['f46', 'f46-build', 'f46-override', 'f45-updates', 'f45-updates-testing', 'f45-updates-pending']) assert.equal(await tagExists(name), false, name);
  assert.deepEqual(await parents('f45-override'), ['f45:0']);
  assert.deepEqual(await parents('f45-updates-candidate'), ['f45:0']);
  assert.equal(await target('rawhide'), 'f45-build -> f45-updates-candidate');
  assert.equal(await target('f45-candidate'), null);
  assert.equal(await target('f46'), null);
  assert.equal((await bodhiRelease('F45'))?.['branch'], 'rawhide');
  assert.equal(await bodhiRelease('F46'), null);
  assert.deepEqual(ostree('refs').split('\n').filter((r) => r.startsWith('fedora/45/')), []);
}

/** The release activities as the worker has them, for calling a step again by hand. */
function releaseActivities() {
  const bodhi = createBodhiActivities({ bodhiUrl: sandbox.urls.bodhi, http: TEST_HTTP, bodhiLogin: bodhiLogin(sandbox) });
  const pdc = createPdcActivities({ pdcUrl: sandbox.urls.pdc, http: TEST_HTTP });
  return createReleaseActivities({ kojiHubUrl: sandbox.urls.kojiHub, kojiLogin: kojiLogin(sandbox), http: TEST_HTTP, bodhi, pdc, paths, releaseConfig: { pool: db.pool, lanes: LANES } });
}

const ostree = (...args: string[]) => execFileSync('ostree', [`--repo=${paths.ostreeRepo}`, ...args], { encoding: 'utf8' }).trim();

describe('release branching from the CLI', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox({ withBus: false })]);
    koji = kojiAs(sandbox);
    worker = await startRelengWorker(env, db.pool, {
      kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, logins: relengLogins(sandbox), push: paths, gatingLanes: LANES,
    });
    spy = new BusSpy(worker.publishEndpoint);
    // Rawhide's trees in the OSTree repository: branching makes the release's refs at their last commits.
    mkdirSync(paths.ostreeRepo, { recursive: true });
    ostree('init', '--mode=archive');
    for (const arch of ['x86_64', 'aarch64']) {
      for (const n of [1, 2]) {
        const dir = mkdtempSync(join(tmpdir(), 'relengotron-tree-'));
        writeFileSync(join(dir, 'version'), `rawhide.${n}\n`);
        ostree('commit', `--branch=fedora/rawhide/${arch}/iot`, `--tree=dir=${dir}`, `--subject=rawhide.${n}`);
      }
    }
  });
  after(async () => {
    await spy.close();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('lists Bodhi\'s releases with their state and tags', async () => {
    const listed = await cli('release', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^RELEASE +STATE +BRANCH +STABLE TAG/);
    assert.match(listed.stdout, /^F29 +current +f29 +f29-updates +f29-updates-testing +f29-updates-candidate +yes$/m);
    assert.match(listed.stdout, /^F45 +pending +rawhide +f45 +f45-updates-testing +f45-updates-candidate +no$/m);
    const json = JSON.parse((await cli('release', 'list', '--json')).stdout) as { name: string }[];
    assert.deepEqual(json.map((r) => r.name), ['F29', 'F45']);
  });

  it('refuses what cannot be branched, with the reason', async () => {
    const unknown = await cli('release', 'branch', '--release', 'F44', '--dry-run');
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'refused: Bodhi knows no release F44\n']);
    const stable = await cli('release', 'branch', '--release', 'F29', '--dry-run');
    assert.equal(stable.code, 1);
    assert.match(stable.stderr, /^refused: F29 is not rawhide: its branch is f29 \(already branched: f29-updates, f29-updates-testing, f29-updates-pending exist\)\n$/);
    const nonsense = await cli('release', 'branch', '--release', 'rawhide', '--dry-run');
    assert.match(nonsense.stderr, /^refused: rawhide is not a Fedora release name/);
    assert.match((await cli('release', 'branch', '--release', 'F45/../x')).stderr, /^refused: F45\/..\/x is not a Fedora release name/);
  });

  it('a dry run prints exactly what will be created and changed, and changes nothing', async () => {
    const dry = await cli('release', 'branch', '--release', 'F45', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    const lines = dry.stdout.trim().split('\n');
    assert.equal(lines[0], 'Branch F45 from rawhide; rawhide moves to 46.');
    for (const line of [
      '  snapshot f45 -> f46 (latest builds only: 4)',
      '  create tag f46-build inheriting f46-override [aarch64 ppc64le s390x x86_64] extra {"mock.package_manager":"dnf5","mock.new_chroot":1}',
      '  create tag f45-updates inheriting f45',
      '  inheritance of f45-override: f45 (0) -> f45-updates (0)',
      '  create target f45-candidate: f45-build -> f45-updates-candidate',
      '  create target f46: f46-build -> f46-updates-candidate',
      '  edit target rawhide: f45-build -> f45-updates-candidate => f46-build -> f46-updates-candidate',
      '  releng-o-tron.release.branched',
      '(dry run: nothing was changed)',
      '  gating-lane rawhide: f46-updates-testing-pending -> f46',
      `  create ref fedora/45/x86_64/iot at fedora/rawhide/x86_64/iot's last commit ${ostree('rev-parse', 'fedora/rawhide/x86_64/iot').slice(0, 12)}`,
      `  create ref fedora/45/aarch64/iot at fedora/rawhide/aarch64/iot's last commit ${ostree('rev-parse', 'fedora/rawhide/aarch64/iot').slice(0, 12)}`,
    ]) assert.ok(lines.includes(line), `${line}\n---\n${dry.stdout}`);
    assert.match(dry.stdout, /^ {2}edit release F45: branch "rawhide" -> "f45", stable_tag "f45" -> "f45-updates", composed_by_bodhi false -> true/m);
    assert.match(dry.stdout, /^ {2}create release F46 \(rawhide\): long_name="Fedora 46", version="46", branch="rawhide"/m);
    const plan = JSON.parse((await cli('release', 'branch', '--release', 'F45', '--dry-run', '--json')).stdout) as { createTags: unknown[] };
    assert.equal(plan.createTags.length, 8);
    await rawhideUntouched();
  });

  it('a branch whose Bodhi step fails waits for an operator; abort undoes every Koji change, newest first', async () => {
    sandbox.bodhi.denyWrites('releases', 'releng-o-tron is not allowed to change releases');
    try {
      const started = await cli('release', 'branch', '--release', 'F45');
      assert.equal(started.stdout, 'started: release-branch/F45\n');
      const handle = env.client.workflow.getHandle(workflowIds.releaseBranch('F45'));
      const waiting = await until(async () => (await handle.query(releaseSagaStatusQuery)).awaitingOperator[0]);
      assert.equal(waiting.step, 'editing and creating the releases in Bodhi');
      assert.match(waiting.error, /403.*releng-o-tron is not allowed to change releases/);
      // Koji has been branched by then.
      assert.equal(await target('rawhide'), 'f46-build -> f46-updates-candidate');
      assert.equal(await tagExists('f45-updates'), true);
      const aborted = await cli('runs', 'decide', handle.workflowId, 'abort', '--reason', 'Bodhi refuses; try next week');
      assert.equal(aborted.code, 0, aborted.stderr);
      await assert.rejects(handle.result(), (err: Error & { cause?: { details?: unknown[]; type?: string } }) => {
        assert.equal(err.cause?.type, 'AbortedByOperator');
        const report = err.cause?.details?.[0] as CompensationReport;
        assert.equal(report.failure, 'aborted by an operator at editing and creating the releases in Bodhi: Bodhi refuses; try next week');
        assert.deepEqual(report.notUndone, []);
        // Newest first: targets, then inheritance, then the tags (children before parents, the snapshot last).
        assert.deepEqual(report.undone.slice(0, 5), [
          'deleted ref fedora/45/aarch64/iot', 'deleted ref fedora/45/x86_64/iot',
          'target rawhide back to f45-build -> f45-updates-candidate', 'deleted target f45-candidate', 'deleted target f46',
        ]);
        assert.equal(report.undone.at(-1), 'deleted tag f46');
        return true;
      });
      await rawhideUntouched();
      await saveHistoryIfRecording('release-branch-aborted', handle);
    } finally {
      sandbox.bodhi.denyWrites('releases', null);
    }
  });

  it('branches F45: exactly the tag tree, inheritance, targets and Bodhi releases of the plan, announced; a second run is refused and every step is a no-op again', async () => {
    // The releng worker runs as its own process, Koji is slow, and the worker is killed (SIGKILL) half-way
    // through the tags; a new worker resumes the step once the heartbeat is missed. Later the hub itself
    // goes away for a call mid-step. The end state is the plan's either way.
    await worker.stop();
    sandbox.koji.writeDelayMs = 300;
    const child = spawn(process.execPath, [RELENG_WORKER], { env: { ...cliEnvironment(), DATABASE_URL: db.url, FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let childErr = '';
    child.stderr.on('data', (d: Buffer) => (childErr += d.toString()));
    const started = await cli('release', 'branch', '--release', 'F45');
    assert.equal(started.code, 0, started.stderr);
    await until(() => tagExists('f46-build'), 60_000).catch((err: Error) => assert.fail(`${err.message}; the worker said: ${childErr.slice(-2000)}`));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(await tagExists('f45-updates'), false, 'killed before the step finished');
    sandbox.koji.writeDelayMs = 0;
    sandbox.koji.goAwayAfterWrites(4);
    worker = await startRelengWorker(env, db.pool, {
      kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, logins: relengLogins(sandbox), push: paths, gatingLanes: LANES,
    });
    await spy.close();
    spy = new BusSpy(worker.publishEndpoint);
    const branched = { stdout: JSON.stringify(await env.client.workflow.getHandle(workflowIds.releaseBranch('F45')).result()) };
    const history = await env.client.workflow.getHandle(workflowIds.releaseBranch('F45')).fetchHistory();
    const tagStep = history.events!.find((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt && e.activityTaskStartedEventAttributes.attempt > 1);
    assert.ok(tagStep, 'a step was retried after the outage');
    const { steps } = await env.client.workflow.getHandle(workflowIds.releaseBranch('F45')).query(releaseSagaStatusQuery);
    assert.equal(steps[0]!.step, 'koji-tags');
    assert.ok(!steps[0]!.changed.includes('snapshot f45 -> f46'), `the retry found the snapshot made: ${steps[0]!.changed.join('; ')}`);
    const message = JSON.parse(branched.stdout.slice(branched.stdout.indexOf('{')));
    assert.equal(message.rawhide, 'F46');
    // Koji: the new rawhide has rawhide's latest builds, and its own tags and targets.
    const f46 = ((await koji.call('listTagged', ['f46'])) as Record<string, string>[]).map((b) => b['nvr']!).sort();
    assert.deepEqual(f46, ['bash-5.3.0-1.fc45', 'glibc-2.41-3.fc45', 'kernel-6.17.0-0.rc1.fc45', 'systemd-257.3-1.fc45']);
    assert.deepEqual(await parents('f46-build'), ['f46-override:0']);
    assert.deepEqual(await parents('f46-override'), ['f46:0']);
    const f46Build = (await koji.call('getTag', ['f46-build'])) as Record<string, unknown>;
    assert.equal(f46Build['arches'], 'aarch64 ppc64le s390x x86_64');
    assert.deepEqual(f46Build['extra'], { 'mock.package_manager': 'dnf5', 'mock.new_chroot': 1 });
    assert.equal(((await koji.call('getTag', ['f46'])) as Record<string, unknown>)['perm'], 'admin');
    assert.equal(await target('rawhide'), 'f46-build -> f46-updates-candidate');
    assert.equal(await target('f46'), 'f46-build -> f46-updates-candidate');
    // The branched release: updates tags, swapped inheritance, its candidate target.
    assert.deepEqual(await parents('f45-updates'), ['f45:0']);
    assert.deepEqual(await parents('f45-updates-testing'), ['f45-updates:0']);
    assert.deepEqual(await parents('f45-override'), ['f45-updates:0']);
    assert.deepEqual(await parents('f45-updates-candidate'), ['f45-updates:0']);
    assert.equal(await target('f45-candidate'), 'f45-build -> f45-updates-candidate');
    assert.equal(await target('f45'), 'f45-build -> f45-updates-candidate');
    // Bodhi: F45 branched and composed by Bodhi, F46 is rawhide.
    const f45 = (await bodhiRelease('F45'))!;
    assert.deepEqual([f45['branch'], f45['stable_tag'], f45['composed_by_bodhi'], f45['create_automatic_updates'], f45['testing_repository']], ['f45', 'f45-updates', true, false, 'updates-testing']);
    const f46Release = (await bodhiRelease('F46'))!;
    for (const [key, value] of Object.entries({
      name: 'F46', long_name: 'Fedora 46', version: '46', branch: 'rawhide', id_prefix: 'FEDORA', dist_tag: 'f46', stable_tag: 'f46', testing_tag: 'f46-updates-testing',
      candidate_tag: 'f46-updates-candidate', pending_signing_tag: 'f46-signing-pending', pending_testing_tag: 'f46-updates-testing-pending', pending_stable_tag: 'f46-updates-pending',
      override_tag: 'f46-override', state: 'pending', composed_by_bodhi: false, create_automatic_updates: true, package_manager: 'dnf',
    })) assert.equal(f46Release[key], value, key);
    const told = await spy.waitFor('releng-o-tron.release.branched');
    assert.deepEqual(told.envelope.msg['bodhi'], { edited: 'F45', created: 'F46' });
    // The rawhide lane gates the new rawhide now, as the listener sees it.
    const live = await new LiveLanes(db.pool, LANES).start(60_000);
    live.stop();
    assert.deepEqual(live.lanes.find((l) => l.name === 'rawhide'), { ...LANES[1], gateTag: 'f46-updates-testing-pending', releaseTag: 'f46', quarantineTag: 'f46-quarantine', distTag: 'fc46' });
    // OSTree: the release's refs at rawhide's last commits, rawhide's own untouched.
    for (const arch of ['x86_64', 'aarch64']) assert.equal(ostree('rev-parse', `fedora/45/${arch}/iot`), ostree('rev-parse', `fedora/rawhide/${arch}/iot`));
    assert.deepEqual((told.envelope.msg['ostree_refs'] as string[]).sort(), ['fedora/45/aarch64/iot', 'fedora/45/x86_64/iot']);

    // Branched already: refused with what exists.
    const again = await cli('release', 'branch', '--release', 'F45', '--dry-run');
    assert.match(again.stderr, /^refused: F45 is not rawhide: its branch is f45 \(already branched: Bodhi has F46, f45-updates, /);
    // Every step finds its work done (what a retry after a crash does).
    const { plan } = await env.client.workflow.getHandle(workflowIds.releaseBranch('F45')).query(releaseSagaStatusQuery);
    await saveHistoryIfRecording('release-branch', env.client.workflow.getHandle(workflowIds.releaseBranch('F45')));
    for (const step of BRANCH_STEPS) assert.deepEqual(await releaseActivities().applyBranchStep({ plan: plan as BranchPlan, step }), { changed: [] }, step);
    // And the rawhide listing now says so.
    assert.match((await cli('release', 'list')).stdout, /^F46 +pending +rawhide +f46 /m);
  });

  it('end of life of F29: targets gone, tags locked, Bodhi archived, PDC inactive, mirror trees in the archive, OSTree refs at their last commit', async () => {
    // F29 on the master mirror (a published updates tree with its `latest`, updates-testing, the release's images) and in the OSTree repository.
    const tree = (path: string, file: string) => {
      mkdirSync(join(paths.mirrorRoot, path), { recursive: true });
      writeFileSync(join(paths.mirrorRoot, path, file), `${path}/${file}\n`);
    };
    tree('updates/29/Everything/20190627T000005Z/x86_64', 'repomd.xml');
    symlinkSync('20190627T000005Z', join(paths.mirrorRoot, 'updates/29/Everything/latest'));
    tree('updates/testing/29/Everything/20190626T000001Z', 'repomd.xml');
    tree('29/Cloud/x86_64/images/20190606.0', 'Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2');
    for (const n of [1, 2, 3]) {
      const dir = mkdtempSync(join(tmpdir(), 'relengotron-tree-'));
      writeFileSync(join(dir, 'version'), `29.${n}\n`);
      ostree('commit', '--branch=fedora/29/x86_64/iot', `--tree=dir=${dir}`, `--subject=29.${n}`);
    }

    const dry = await cli('release', 'eol', '--release', 'F29', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    for (const line of [
      'End of life of F29.',
      '  delete target f29 (f29-build -> f29-updates-candidate)',
      '  lock tag f29-updates-testing',
      '  release F29: state current -> archived (its open updates become obsolete)',
      '  release fedora-29: active true -> false',
      "  move updates/29 -> archive updates/29 (rsync --delay-updates; the old tree stays until the archive verifies)",
      '  move 29 -> archive releases/29 (rsync --delay-updates; the old tree stays until the archive verifies)',
      '  prune fedora/29/x86_64/iot to its last commit',
      '  releng-o-tron.release.eol',
      '  gating-lane f29: stopped',
      '  compose-stream Fedora-29: stopped',
    ]) assert.ok(dry.stdout.split('\n').includes(line), `${line}\n---\n${dry.stdout}`);
    assert.equal(await target('f29'), 'f29-build -> f29-updates-candidate', 'a dry run changes nothing');

    const done = await cli('release', 'eol', '--release', 'F29', '--wait');
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await target('f29'), null);
    for (const name of ['f29', 'f29-updates', 'f29-updates-testing', 'f29-build']) assert.equal(struct((await koji.call('getTag', [name])))['locked'], true as unknown as string, name);
    assert.equal((await bodhiRelease('F29'))?.['state'], 'archived');
    assert.equal(((await (await fetch(`${sandbox.urls.pdc}/releases/fedora-29/`)).json()) as { active: boolean }).active, false);
    assert.equal(existsSync(join(paths.mirrorRoot, 'updates/29')), false);
    assert.equal(readFileSync(join(paths.archiveRoot, 'updates/29/Everything/20190627T000005Z/x86_64/repomd.xml'), 'utf8'), 'updates/29/Everything/20190627T000005Z/x86_64/repomd.xml\n');
    assert.equal(readFileSync(join(paths.archiveRoot, 'releases/29/Cloud/x86_64/images/20190606.0/Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2'), 'utf8').length > 0, true);
    assert.equal(existsSync(join(paths.archiveRoot, 'updates/testing/29/Everything/20190626T000001Z/repomd.xml')), true);
    assert.equal((ostree('log', 'fedora/29/x86_64/iot').match(/^commit /gm) ?? []).length, 1);
    assert.match(ostree('log', 'fedora/29/x86_64/iot'), /29\.3/);
    // Its gating lane stops, as the listener sees it, and its composes are no longer tested.
    const live = await new LiveLanes(db.pool, LANES).start(60_000);
    live.stop();
    assert.deepEqual(live.lanes.map((l) => l.name), ['rawhide']);
    const late = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0', release: { short: 'Fedora', version: '29' }, type: 'production' });
    const tested = await (await startComposeTest(env.client, { composeId: late.composeId, location: late.location, pungiStatus: 'FINISHED' }, manualTrigger('compose.test'))).handle.result();
    assert.deepEqual([tested.status, tested.jobs.length], ['complete', 0]);
    const told = await spy.waitFor('releng-o-tron.release.eol');
    assert.deepEqual(told.envelope.msg['ostree_refs'], ['fedora/29/x86_64/iot']);

    const again = await cli('release', 'eol', '--release', 'F29', '--dry-run');
    assert.match(again.stderr, /^refused: F29 is already at end of life: archived in Bodhi, no build targets, every tag locked/);
    const rawhide = await cli('release', 'eol', '--release', 'F46', '--dry-run');
    assert.match(rawhide.stderr, /^refused: F46 is rawhide: branch it before it can reach end of life/);
    // Every step finds its work done.
    const { plan } = await env.client.workflow.getHandle(workflowIds.releaseEol('F29')).query(releaseSagaStatusQuery);
    await saveHistoryIfRecording('release-eol', env.client.workflow.getHandle(workflowIds.releaseEol('F29')));
    for (const step of EOL_STEPS) assert.deepEqual(await releaseActivities().applyEolStep({ plan: plan as EolPlan, step }), { changed: [] }, step);
  });
});
