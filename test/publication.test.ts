/**
 * Publication as Fedora's mirrors have it, on real parts: the sandbox's Koji writes every arch of
 * a tag's repository (real RPMs, createrepo_c), each OSTree commit is the whole tree of its
 * definition resolved against the tag's full repository by the real ostree (parent, static delta,
 * package list, signed summary verified by an ostree client), testing kept apart from stable, RPMs
 * unpacked by libarchive's secure extraction, and every path from outside checked by one guard.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { createMirrorActivities } from '../activities/mirror.js';
import { commitPackages, createOstreeActivities, RPM_UNUSABLE } from '../activities/ostree.js';
import { manualTrigger, pushSettings, startPush } from '../client/start.js';
import { loadConfig, type PushPaths } from '../common/config.js';
import { UNSAFE_PATH } from '../common/safe-names.js';
import { startDashboard, type Dashboard } from '../dashboard/server.js';
import type { BodhiUpdate } from '../sandbox/bodhi.js';
import type { PushSettings } from '../workflows/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { bodhiPost, kojiAs, relengLogins, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let dashboard: Dashboard;
let paths: PushPaths;
const key = makeSigningKey('Fedora 29 (publication test)');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-publication-'));

const ostree = (...args: string[]) => execFileSync('ostree', args, { encoding: 'utf8' }).trim();
const revParse = (ref: string) => ostree('rev-parse', `--repo=${paths.ostreeRepo}`, ref);
const fileIn = (commit: string, path: string) => ostree('cat', `--repo=${paths.ostreeRepo}`, commit, path);
const hasFile = (commit: string, path: string) => {
  try {
    fileIn(commit, path);
    return true;
  } catch {
    return false;
  }
};
/** Every file under the mirror root, with where its symlinks point: a picture of what is published. */
function mirrorPicture(root: string, below = ''): string[] {
  const dir = join(root, below);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = below ? `${below}/${e.name}` : e.name;
    if (e.isSymbolicLink()) return [`${path} -> ${readlinkSync(join(root, path))}`];
    return e.isDirectory() ? mirrorPicture(root, path) : [path];
  });
}

function settings(overrides: Partial<PushSettings> = {}): PushSettings {
  // No image test here (push.test.ts boots them): this file is about what gets published.
  return { ...pushSettings(loadConfig({})), sign: true, operatorReminderMs: 3_600_000, testPolicy: [], ...overrides };
}

/** A new build in Koji's candidate or testing tag and a Bodhi update asking for `request`, as a packager would make them. */
async function newUpdate(alias: string, nvr: string, tag: string, request: 'testing' | 'stable', arches?: readonly string[]): Promise<void> {
  sandbox.koji.seed({ tags: [], builds: [{ nvr, owner: 'packager', tags: [tag], ...(arches ? { arches } : {}) }] });
  const template = ((await (await fetch(`${sandbox.urls.bodhi}/updates/FEDORA-2019-3082237808`)).json()) as { update: BodhiUpdate }).update;
  sandbox.bodhi.seed([], [{ ...template, alias, updateid: alias, title: nvr, status: request === 'stable' ? 'testing' : 'pending', request, locked: false, pushed: request === 'stable', builds: [{ nvr, epoch: 0, type: 'rpm', signed: true, release_id: 23 }] }]);
}

async function pushOf(request: 'testing' | 'stable', pushId: string, overrides: Partial<PushSettings> = {}) {
  const { handle } = await startPush(env.client, { release: 'F29', request, pushId, ...settings(overrides) }, manualTrigger('push.start'));
  return { handle, result: await handle.result() };
}

describe('publication as Fedora has it', () => {
  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    sandbox = await startTestSandbox();
    const workDir = join(dataDir, 'work');
    dashboard = await startDashboard({ pool: db.pool, listen: '127.0.0.1:0', pushComposeRoot: join(workDir, 'composes') });
    paths = { ostreeRepo: join(dataDir, 'ostree/repo'), workDir, composeRoot: join(workDir, 'composes'), composeUrl: `${dashboard.url}/pushes`, mirrorRoot: join(dataDir, 'mirror'), archiveRoot: join(dataDir, 'archive'), signingKey: key };
    worker = await startRelengWorker(env, db.pool, {
      kojiHubUrl: sandbox.urls.kojiHub, kojiTopUrl: sandbox.urls.kojiFiles, services: { bodhiUrl: sandbox.urls.bodhi, pdcUrl: sandbox.urls.pdc }, push: paths, logins: relengLogins(sandbox),
    });
  });
  after(async () => {
    await worker.stop();
    await dashboard.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
    stopGpgAgents();
  });

  it('a Bodhi release version that would climb out of the mirror is refused before anything moves or is written', async () => {
    const koji = kojiAs(sandbox);
    const tagsBefore = (await koji.call('listTagged', ['f29-updates-testing'])) as unknown[];
    const edited = await bodhiPost(sandbox, '/releases/', { name: 'F29', edited: 'F29', version: '../../x' });
    assert.equal(edited.status, 200);
    try {
      const { handle } = await startPush(env.client, { release: 'F29', request: 'stable', pushId: 'climb-1', ...settings() }, manualTrigger('push.start'));
      const failure = await handle.result().then(
        () => assert.fail('the push went on'),
        (err: unknown) => err,
      );
      assert.ok(failure instanceof WorkflowFailedError && failure.cause instanceof ApplicationFailure, String(failure));
      assert.equal(failure.cause.type, UNSAFE_PATH);
      assert.equal(failure.cause.message, `Bodhi's release F29: "../../x" is not a release version: it contains ".."; nothing is written or removed for it`);
    } finally {
      await bodhiPost(sandbox, '/releases/', { name: 'F29', edited: 'F29', version: '29' });
    }
    // Nothing moved in Koji, nothing written anywhere under the data directory, above it or beside it.
    assert.equal(((await koji.call('listTagged', ['f29-updates-testing'])) as unknown[]).length, tagsBefore.length);
    assert.deepEqual(mirrorPicture(dataDir).filter((p) => !p.startsWith('ostree/') && !p.startsWith('work/sandbox')), []);
    assert.equal(existsSync(join(dataDir, '..', 'x')), false);
  });

  it('each commit is the whole tree: a second push keeps the first push\'s packages, an update replaces its files, a package dropped from the definition disappears', async () => {
    // Push 1: the seeded stable batch, earlyoom 1.3 and libntirpc among it.
    const first = await pushOf('stable', '20261201T000000Z');
    const c1 = revParse('fedora/29/x86_64/updates/iot');
    assert.equal(first.result.artifacts.find((a) => a.artifact === 'ostree/fedora-iot.x86_64')?.commit, c1);
    assert.equal(fileIn(c1, '/usr/share/earlyoom/build.txt'), 'earlyoom-1.3-2.fc29');
    assert.equal(fileIn(c1, '/usr/share/libntirpc/build.txt'), 'libntirpc-1.7.4-1.fc29');
    assert.deepEqual(await commitPackages(paths.ostreeRepo, c1), ['earlyoom-1.3-2.fc29.x86_64', 'libntirpc-1.7.4-1.fc29.x86_64']);

    // Push 2: only earlyoom 1.4. The commit still has libntirpc (from the tag, not from this push) and earlyoom's new files only.
    await newUpdate('FEDORA-2026-e4', 'earlyoom-1.4-1.fc29', 'f29-updates-testing', 'stable', ['x86_64', 'aarch64']);
    const second = await pushOf('stable', '20261202T000000Z');
    await saveHistoryIfRecording('push-whole-trees', second.handle);
    await saveHistoryIfRecording('push-artifact-whole-tree', env.client.workflow.getHandle(`${second.handle.workflowId}/ostree/fedora-iot.aarch64`));
    assert.deepEqual(second.result.updates, [{ alias: 'FEDORA-2026-e4', builds: ['earlyoom-1.4-1.fc29'] }]);
    const c2 = revParse('fedora/29/x86_64/updates/iot');
    assert.notEqual(c2, c1);
    assert.equal(ostree('rev-parse', `--repo=${paths.ostreeRepo}`, `${c2}^`), c1, 'the parent is the previous commit');
    assert.equal(fileIn(c2, '/usr/share/earlyoom/build.txt'), 'earlyoom-1.4-1.fc29');
    assert.equal(fileIn(c2, '/usr/share/libntirpc/build.txt'), 'libntirpc-1.7.4-1.fc29');
    assert.deepEqual(await commitPackages(paths.ostreeRepo, c2), ['earlyoom-1.4-1.fc29.x86_64', 'libntirpc-1.7.4-1.fc29.x86_64']);
    assert.match(ostree('show', `--repo=${paths.ostreeRepo}`, c2), /releng-o-tron\.packages|Version: 29\.20261202T000000Z/);
    // A static delta from the parent, and the arch's own tree for aarch64.
    assert.match(ostree('static-delta', 'list', `--repo=${paths.ostreeRepo}`), /\S/);
    const a2 = revParse('fedora/29/aarch64/updates/iot');
    assert.equal(fileIn(a2, '/usr/lib/earlyoom/arch'), 'aarch64');
    assert.equal(fileIn(c2, '/usr/lib/earlyoom/arch'), 'x86_64');

    // The summary is signed: an ostree client that requires a signed summary reads it.
    const client = join(dataDir, 'client');
    ostree('init', `--repo=${client}`, '--mode=bare-user');
    const publicKey = join(dataDir, 'key.asc');
    writeFileSync(publicKey, execFileSync('gpg', ['--homedir', key.homedir, '--armor', '--export', key.fingerprint]));
    ostree('remote', 'add', `--repo=${client}`, '--set=gpg-verify-summary=true', `--gpg-import=${publicKey}`, 'mirror', `file://${join(paths.mirrorRoot, 'ostree/29/latest')}`);
    const remoteRefs = ostree('remote', 'refs', `--repo=${client}`, 'mirror');
    assert.match(remoteRefs, /mirror:fedora\/29\/x86_64\/updates\/iot/);
    ostree('pull', `--repo=${client}`, 'mirror', 'fedora/29/x86_64/updates/iot');
    assert.equal(ostree('rev-parse', `--repo=${client}`, 'mirror:fedora/29/x86_64/updates/iot'), c2);

    // Push 3: earlyoom 1.5, with libntirpc dropped from the tree's definition: it is gone from the tree.
    await newUpdate('FEDORA-2026-e5', 'earlyoom-1.5-1.fc29', 'f29-updates-testing', 'stable', ['x86_64', 'aarch64']);
    await pushOf('stable', '20261203T000000Z', { ostreeTrees: { 'fedora-iot': { refName: 'iot', packages: ['earlyoom'] } } });
    const c3 = revParse('fedora/29/x86_64/updates/iot');
    assert.equal(fileIn(c3, '/usr/share/earlyoom/build.txt'), 'earlyoom-1.5-1.fc29');
    assert.equal(hasFile(c3, '/usr/share/libntirpc/build.txt'), false);
    assert.equal(hasFile(c2, '/usr/share/libntirpc/build.txt'), true, 'history keeps it');
  });

  it('every arch of the repository at Fedora\'s paths, signed per arch; a testing push leaves every stable ref, path and latest untouched', async () => {
    const stableRefs = ['x86_64', 'aarch64'].map((arch) => [arch, revParse(`fedora/29/${arch}/updates/iot`)]);
    const stablePaths = mirrorPicture(paths.mirrorRoot).filter((p) => p.startsWith('updates/29/'));
    assert.ok(stablePaths.includes('updates/29/Everything/x86_64 -> latest/x86_64'), stablePaths.join('\n'));
    assert.ok(stablePaths.includes('updates/29/Everything/aarch64 -> latest/aarch64'));
    assert.ok(stablePaths.includes('updates/29/Everything/latest -> 20261203T000000Z'));

    await newUpdate('FEDORA-2026-e6', 'earlyoom-1.6-1.fc29', 'f29-updates-testing-pending', 'testing', ['x86_64', 'aarch64']);
    const { handle, result } = await pushOf('testing', '20261204T000000Z');
    await saveHistoryIfRecording('push-testing-stream', handle);
    assert.deepEqual(result.updates, [{ alias: 'FEDORA-2026-e6', builds: ['earlyoom-1.6-1.fc29'] }]);
    // The testing trees: their own refs, earlyoom from testing, libntirpc inherited from stable.
    const t = revParse('fedora/29/x86_64/testing/iot');
    assert.equal(fileIn(t, '/usr/share/earlyoom/build.txt'), 'earlyoom-1.6-1.fc29');
    assert.equal(fileIn(t, '/usr/share/libntirpc/build.txt'), 'libntirpc-1.7.4-1.fc29');
    // Stable: the same commits, the same files, the same links.
    for (const [arch, commit] of stableRefs) assert.equal(revParse(`fedora/29/${arch}/updates/iot`), commit, arch);
    assert.deepEqual(mirrorPicture(paths.mirrorRoot).filter((p) => p.startsWith('updates/29/')), stablePaths);
    // Testing's repository: every arch, only the testing tag's own builds, repomd.xml signed in each.
    assert.equal(result.repository?.mirror, join(paths.mirrorRoot, 'updates/testing/29/Everything/20261204T000000Z'));
    for (const arch of ['x86_64', 'aarch64']) {
      const repo = join(paths.mirrorRoot, `updates/testing/29/Everything/${arch}`);
      assert.ok(existsSync(join(repo, `Packages/e/earlyoom-1.6-1.fc29.${arch}.rpm`)), arch);
      assert.ok(!existsSync(join(repo, 'Packages/l/libntirpc-1.7.4-1.fc29.x86_64.rpm')), 'stable builds stay in stable');
      execFileSync('gpg', ['--homedir', key.homedir, '--verify', join(repo, 'repodata/repomd.xml.asc'), join(repo, 'repodata/repomd.xml')], { stdio: 'ignore' });
    }
    const testingImages = result.artifacts.find((a) => a.kind === 'cloud-qcow2')?.mirror;
    assert.equal(testingImages, join(paths.mirrorRoot, 'updates/testing/29/Cloud/x86_64/images/20261204T000000Z'));
  });

  it('an RPM crafted to write through a symlink outside the tree is refused, and nothing lands outside or on the ref', async () => {
    const top = mkdtempSync(join(tmpdir(), 'relengotron-crafted-'));
    const outside = join(top, 'outside');
    mkdirSync(outside);
    // evil-a-link (unpacked first: the tree takes its packages by name) puts usr/lnk -> <outside>; evil-b-file then has usr/lnk/f, which cpio would write through the link.
    const spec = (name: string, install: string, files: string) =>
      `Name: ${name}\nVersion: 1\nRelease: 1\nSummary: crafted\nLicense: MIT\nBuildArch: noarch\n%description\ncrafted\n%install\n${install}\n%files\n${files}\n`;
    const repo = join(top, 'repo', 'x86_64');
    mkdirSync(join(repo, 'Packages'), { recursive: true });
    for (const [name, install, files] of [
      ['evil-a-link', `mkdir -p %{buildroot}/usr && ln -s ${outside} %{buildroot}/usr/lnk`, '/usr/lnk'],
      ['evil-b-file', 'mkdir -p %{buildroot}/usr/lnk && echo written > %{buildroot}/usr/lnk/f', '/usr/lnk/f'],
    ] as const) {
      writeFileSync(join(top, `${name}.spec`), spec(name, install, files));
      execFileSync('rpmbuild', ['--define', `_topdir ${join(top, name)}`, '--define', '_binary_payload w.ufdio', '--quiet', '-bb', join(top, `${name}.spec`)], { stdio: 'ignore' });
      execFileSync('cp', [join(top, name, 'RPMS', 'noarch', `${name}-1-1.noarch.rpm`), join(repo, 'Packages')]);
    }
    execFileSync('createrepo_c', ['--quiet', repo]);
    const activities = createOstreeActivities({ repo: join(top, 'ostree'), workDir: join(top, 'work') });
    const refused = await new MockActivityEnvironment()
      .run((input: Parameters<typeof activities.composeOstree>[0]) => activities.composeOstree(input), { ref: 'fedora/29/x86_64/updates/evil', releaseVersion: '29', pushId: 'crafted', stepId: 'crafted-1', tree: { name: 'evil', packages: ['evil-a-link', 'evil-b-file'] }, repository: { dir: join(top, 'repo'), arch: 'x86_64' } })
      .then(() => null, (err: unknown) => err);
    assert.ok(refused instanceof ApplicationFailure, String(refused));
    assert.equal(refused.type, RPM_UNUSABLE);
    assert.match(refused.message, /^evil-b-file-1-1\.noarch\.rpm cannot be unpacked inside the tree, so the tree is not committed: .*Cannot extract through symlink/);
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(existsSync(join(top, 'ostree', 'refs', 'heads', 'fedora')), false, 'no ref moved');
  });

  it('one path guard: a name with .. or a symlink out of the mirror is refused before rsync writes or compensation removes anything', async () => {
    const top = mkdtempSync(join(tmpdir(), 'relengotron-guard-'));
    const mirror = join(top, 'mirror');
    const elsewhere = join(top, 'elsewhere');
    mkdirSync(join(mirror, 'updates'), { recursive: true });
    mkdirSync(join(elsewhere, 'victim'), { recursive: true });
    writeFileSync(join(elsewhere, 'victim', 'keep'), 'mine');
    // Someone made updates/31 a link out of the mirror.
    symlinkSync(elsewhere, join(mirror, 'updates', '31'));
    const source = join(top, 'tree');
    mkdirSync(source);
    writeFileSync(join(source, 'file'), 'new');
    const activities = createMirrorActivities({ mirrorRoot: mirror });
    const attempt = (work: () => Promise<unknown>) => new MockActivityEnvironment().run(work).then(() => null, (err: unknown) => err as ApplicationFailure);
    const climbing = await attempt(() => activities.syncToMirror({ source, path: 'updates/../../elsewhere', name: 'p1' }));
    assert.equal(climbing?.type, UNSAFE_PATH);
    assert.match(String(climbing?.message), /^the mirror path: "updates\/\.\.\/\.\.\/elsewhere" is not a relative path of plain names/);
    const linked = await attempt(() => activities.syncToMirror({ source, path: 'updates/31/Everything', name: 'p1' }));
    assert.equal(linked?.type, UNSAFE_PATH);
    assert.match(String(linked?.message), /leads outside .* \(through a symlink\)/);
    const removal = await attempt(() => activities.removeUnpublishedTree({ path: 'updates/31', name: 'victim' }));
    assert.equal(removal?.type, UNSAFE_PATH);
    const badName = await attempt(() => activities.removeUnpublishedTree({ path: 'updates', name: '..' }));
    assert.equal(badName?.type, UNSAFE_PATH);
    // Nothing written, nothing removed.
    assert.deepEqual(readdirSync(elsewhere).sort(), ['victim']);
    assert.deepEqual(readdirSync(join(elsewhere, 'victim')), ['keep']);
    assert.deepEqual(readdirSync(join(mirror, 'updates')), ['31']);
  });
});
