/**
 * OSTree maintenance with the real ostree, gpg and a real Temporal dev server: a repository with a
 * known history (commits with set timestamps on several refs, an alias) pruned by each policy in
 * one run (exact commits kept, objects and bytes as ostree counts them), refused when a ref has
 * no policy, its dry run reporting exactly what the real run then does; promote forward, refused
 * backwards, forced; an alias made and resolving; a release's refs archived with their history and
 * signatures; the prune Schedule made from config (twice: an update), triggered, its run's report read.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createOstreeLifecycleActivities } from '../activities/ostree-lifecycle.js';
import { ostreeSignatureStatus, signOstreeCommit } from '../activities/signing.js';
import { syncOstreePruneSchedule } from '../client/ostree.js';
import { manualTrigger, startOstreeAlias, startOstreeArchive, startOstreePromote, startOstreePrune } from '../client/start.js';
import { ConfigError, loadConfig, type PushPaths } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { OSTREE_ARCHIVE_REPO, type PruneReport } from '../common/ostree-maintenance.js';
import { refMatcher, ruleFor, type PruneRule } from '../common/ostree-policy.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { scheduleIds } from '../common/workflow-ids.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makeSigningKey, stopGpgAgents } from './helpers/gpg.js';
import { saveHistoryIfRecording } from './helpers/histories.js';
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { until } from './helpers/until.js';
import { freePort } from '../common/ports.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const DAY = 86_400_000;
const trigger = manualTrigger('test');
const quiet = createLogger('test', 'silent');

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let worker: RunningWorker;
const key = makeSigningKey('releng-o-tron ostree maintenance test');
const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-ostree-maint-'));
const paths: PushPaths = {
  ostreeRepo: join(dataDir, 'ostree/repo'), workDir: join(dataDir, 'work'), composeRoot: join(dataDir, 'work/composes'), composeUrl: 'http://127.0.0.1:9/pushes',
  mirrorRoot: join(dataDir, 'mirror'), archiveRoot: join(dataDir, 'archive'), signingKey: key,
};
const archiveRepo = join(paths.archiveRoot, OSTREE_ARCHIVE_REPO);
const ostree = (...args: string[]) => execFileSync('ostree', [`--repo=${paths.ostreeRepo}`, ...args], { encoding: 'utf8' }).trim();
const archived = (...args: string[]) => execFileSync('ostree', [`--repo=${archiveRepo}`, ...args], { encoding: 'utf8' }).trim();
const historyOf = (ref: string, repo: (...args: string[]) => string = ostree) => [...repo('log', ref).matchAll(/^commit ([0-9a-f]{64})$/gm)].map((m) => m[1]!);

const RAWHIDE = 'fedora/rawhide/x86_64/iot';
const UPDATES_29 = 'fedora/29/x86_64/updates/iot';
const ALIAS_29 = 'fedora/29/x86_64/iot';
const TESTING_29 = 'fedora/29/x86_64/testing/iot';
const UPDATES_28 = 'fedora/28/x86_64/updates/iot';
const UPDATES_30 = 'fedora/30/x86_64/updates/iot';
const TESTING_31 = 'fedora/31/x86_64/testing/iot';
const UPDATES_31 = 'fedora/31/x86_64/updates/iot';

/** Fedora's production policy, in miniature; the first rule that matches decides (testing before the release's other refs). */
const POLICIES: PruneRule[] = [
  { match: 'fedora/29/*/testing/*', policy: 'delete' },
  { match: 'fedora/29/**', policy: 'keep-depth', depth: 1 },
  { match: '/fedora/2[0-8]/.+/', policy: 'keep-depth', depth: 0 },
  { match: 'fedora/rawhide/**', policy: 'keep-days', days: 10 },
  { match: UPDATES_30, policy: 'keep-all' },
];

/** Each ref's commits, oldest first, as they were made. */
const made: Record<string, string[]> = {};
const now = Date.now();

/** A commit `ageDays` old on `ref`, with a tree of its own (a few KiB, so that freeing it shows). */
function commit(ref: string, ageDays: number): string {
  const n = (made[ref] ??= []).length + 1;
  const tree = mkdtempSync(join(tmpdir(), 'relengotron-ostree-tree-'));
  writeFileSync(join(tree, 'os-release'), `NAME=Fedora\nOSTREE_VERSION=${ref}.${n}\n`);
  writeFileSync(join(tree, 'payload'), `${ref} #${n}\n`.repeat(200));
  const timestamp = new Date(Math.floor((now - ageDays * DAY) / 1000) * 1000).toISOString();
  const checksum = ostree('commit', `--branch=${ref}`, `--tree=dir=${tree}`, `--subject=${ref} #${n}`, `--timestamp=${timestamp}`);
  rmSync(tree, { recursive: true });
  made[ref].push(checksum);
  return checksum;
}

/** The files under objects/ and their bytes. */
function objectsOnDisk(repo: string): { files: number; bytes: number } {
  const files = readdirSync(join(repo, 'objects'), { recursive: true, encoding: 'utf8' }).map((f) => join(repo, 'objects', f)).filter((f) => statSync(f).isFile());
  return { files: files.length, bytes: files.reduce((n, f) => n + statSync(f).size, 0) };
}

function refsNow(): Record<string, string[]> {
  return Object.fromEntries(ostree('refs').split('\n').sort().map((ref) => [ref, historyOf(ref)]));
}

function cliEnvironment(policies: readonly PruneRule[] = POLICIES): NodeJS.ProcessEnv {
  return { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', LOG_LEVEL: 'warn', RELENGOTRON_DATA_DIR: dataDir, RELENGOTRON_OSTREE_PRUNE_POLICIES: JSON.stringify(policies) };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: cliEnvironment() }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

/** The activities as the worker has them, for applying a plan again by hand (what a retry after a crash does). */
const lifecycle = () => createOstreeLifecycleActivities({ repo: paths.ostreeRepo, archiveRoot: paths.archiveRoot, signingKey: key });

/** The run's typed refusal: its failure type and words. */
async function refusalOf(result: Promise<unknown>): Promise<{ type: string; message: string }> {
  const err = await result.then(() => assert.fail('the run was not refused'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
  return { type: err.cause.type ?? '', message: err.cause.message };
}

describe('prune policies in config', () => {
  it('match exact refs, globs (* within a segment, ** across, ?) and /regular expressions/ of the whole ref; the first rule that matches decides', () => {
    const fits = (pattern: string, ref: string) => refMatcher(pattern)(ref);
    assert.deepEqual([fits(UPDATES_29, UPDATES_29), fits(UPDATES_29, `${UPDATES_29}2`)], [true, false]);
    assert.deepEqual([fits('fedora/*/x86_64/iot', ALIAS_29), fits('fedora/*/iot', ALIAS_29), fits('fedora/**', ALIAS_29), fits('fedora/2?/**', ALIAS_29)], [true, false, true, true]);
    assert.deepEqual([fits('fedora/2.', 'fedora/29'), fits('/fedora\\/2[0-8]\\/.+/', UPDATES_28), fits('/2[0-8]/', UPDATES_28)], [false, true, false]);
    assert.equal(ruleFor(TESTING_29, POLICIES)?.rule.policy, 'delete');
    assert.deepEqual([ruleFor(UPDATES_29, POLICIES)?.index, ruleFor('fedora/31/x86_64/iot', POLICIES)], [1, null]);
  });

  it("reads the README's example, and names every bad rule, cron line and time zone", () => {
    const example = /```json\n(\{ "ostree"[\s\S]*?)```/.exec(readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8'))![1]!;
    const file = join(dataDir, 'config.json');
    writeFileSync(file, example);
    const { prune } = loadConfig({ RELENGOTRON_CONFIG: file }).ostree;
    assert.deepEqual([prune.schedule, prune.policies.length, prune.policies[2]], [{ cron: '0 3 * * 0', timezone: 'UTC', catchupWindow: '1d' }, 5, { match: 'fedora/*/*/testing/*', policy: 'keep-days', days: 90 }]);
    assert.deepEqual(loadConfig({}).ostree.prune.policies, [], 'no policies unless configured: no Schedule');
    writeFileSync(file, JSON.stringify({ ostree: { prune: { schedule: { timezone: 'Mars/Olympus' }, policies: [{ match: 'fedora/../x', policy: 'keep-days', days: 9 }, { match: '/(/', policy: 'delete' }, { match: 'x', policy: 'keep-some' }] } } }));
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: file, RELENGOTRON_OSTREE_PRUNE_CRON: 'weekly' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /ostree\.prune\.schedule\.cron \(from RELENGOTRON_OSTREE_PRUNE_CRON\): expected a cron line/);
      assert.match(err.message, /ostree\.prune\.schedule\.timezone: expected an IANA time zone/);
      assert.match(err.message, /ostree\.prune\.policies\.0\.match: "fedora\/\.\.\/x" is not an OSTree ref/);
      assert.match(err.message, /ostree\.prune\.policies\.1\.match: not a regular expression/);
      assert.match(err.message, /ostree\.prune\.policies\.2\.policy: /);
      return true;
    });
  });
});

describe('OSTree maintenance: prune by policy, promote, alias, archive, the prune Schedule', () => {
  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    worker = await startRelengWorker(env, db.pool, { push: paths });
    mkdirSync(paths.ostreeRepo, { recursive: true });
    ostree('init', '--mode=archive');
    for (const age of [40, 30, 20, 5, 1]) commit(RAWHIDE, age);
    for (const age of [60, 50, 45]) commit(UPDATES_29, age);
    ostree('refs', '--alias', `--create=${ALIAS_29}`, UPDATES_29);
    for (const age of [55, 48]) commit(TESTING_29, age);
    for (const age of [400, 390]) commit(UPDATES_28, age);
    for (const age of [100, 90, 80]) commit(UPDATES_30, age);
  });
  after(async () => {
    await worker.stop();
    await Promise.all([env.teardown(), db.drop()]);
    stopGpgAgents();
  });

  it('refuses to prune while a ref has no policy, naming it, and removes nothing', async () => {
    const [before, onDisk] = [refsNow(), objectsOnDisk(paths.ostreeRepo)];
    const { handle } = await startOstreePrune(env.client, { policies: POLICIES.filter((r) => r.match !== UPDATES_30) }, trigger);
    const refusal = await refusalOf(handle.result());
    await saveHistoryIfRecording('ostree-prune-refused', handle);
    assert.deepEqual(refusal, {
      type: 'OstreePruneRefused',
      message: `1 ref(s) have no prune policy: ${UPDATES_30}; give each a rule in ostree.prune.policies; nothing was changed`,
    });
    assert.deepEqual(refsNow(), before);
    assert.deepEqual(objectsOnDisk(paths.ostreeRepo), onDisk);
    // No policies at all is the same refusal, not "keep everything".
    assert.match((await refusalOf((await startOstreePrune(env.client, { policies: [] }, trigger, new Date(now + 1000))).handle.result())).message, /^no prune policies are configured/);
  });

  it('prunes by each policy in one run: keep-days, keep-depth 1 and 0, keep-all, delete; its dry run said exactly that and removed nothing', async () => {
    const [before, onDisk] = [refsNow(), objectsOnDisk(paths.ostreeRepo)];
    const dryHandle = (await startOstreePrune(env.client, { policies: POLICIES, dryRun: true }, trigger)).handle;
    const dry = await dryHandle.result();
    await saveHistoryIfRecording('ostree-prune-dry-run', dryHandle);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(refsNow(), before, 'a dry run moves no ref');
    assert.deepEqual(objectsOnDisk(paths.ostreeRepo), onDisk, 'a dry run removes no object');
    const words = await cli('ostree', 'prune', '--dry-run');
    assert.equal(words.code, 0, words.stderr);
    for (const line of [
      `  ${RAWHIDE} [4: fedora/rawhide/** keep-days 10]: keep 2 of 5 commit(s); remove ${made[RAWHIDE]!.slice(0, 3).reverse().map((c) => c.slice(0, 12)).join(', ')}`,
      `  ${TESTING_29} [1: fedora/29/*/testing/* delete]: delete the ref (2 commit(s)); remove ${made[TESTING_29]!.slice().reverse().map((c) => c.slice(0, 12)).join(', ')}`,
      `  ${UPDATES_30} [5: ${UPDATES_30} keep-all]: keep 3 of 3 commit(s)`,
      `  ${ALIAS_29}: alias of ${UPDATES_29}, follows it`,
      `  ostree prune --refs-only --depth=0 --only-branch=${UPDATES_28} --only-branch=${ALIAS_29} --retain-branch-depth=${ALIAS_29}=1 --only-branch=${UPDATES_29} ` +
        `--retain-branch-depth=${UPDATES_29}=1 --only-branch=${RAWHIDE} --retain-branch-depth=${RAWHIDE}=1`,
      '(dry run: nothing was changed)',
    ]) assert.ok(words.stdout.split('\n').includes(line), `${line}\n---\n${words.stdout}`);

    const done = await cli('ostree', 'prune', '--json');
    assert.equal(done.code, 0, done.stderr);
    const real = JSON.parse(done.stdout) as PruneReport;
    assert.equal(real.dryRun, false);
    const newestFirst = (ref: string) => made[ref]!.slice().reverse();
    const byRef = Object.fromEntries(real.refs.map((r) => [r.ref, r]));
    /** What the report says of a ref: its history's length before and after, its commit after, the commits removed. */
    const told = (ref: string) => {
      const r = byRef[ref]!;
      return { before: r.before, after: r.after, tip: r.tip, removed: r.removedCommits, count: r.removed, deleted: r.deleted };
    };
    const kept = (ref: string, n: number) => ({ before: made[ref]!.length, after: n, tip: newestFirst(ref)[0], removed: newestFirst(ref).slice(n), count: made[ref]!.length - n, deleted: false });
    // keep-days 10: the commits of 5 and 1 days ago; 20, 30, 40 days ago are gone.
    assert.deepEqual(told(RAWHIDE), kept(RAWHIDE, 2));
    // keep-depth 1 (the last commit and one parent), through the alias too.
    assert.deepEqual(told(UPDATES_29), kept(UPDATES_29, 2));
    // keep-depth 0: the last commit only (an end-of-life release).
    assert.deepEqual(told(UPDATES_28), kept(UPDATES_28, 1));
    // delete: the ref and its commits.
    assert.deepEqual(told(TESTING_29), { before: 2, after: 0, tip: null, removed: newestFirst(TESTING_29), count: 2, deleted: true });
    // keep-all: untouched.
    assert.deepEqual(told(UPDATES_30), kept(UPDATES_30, 3));
    // The repository says the same.
    assert.deepEqual(refsNow(), {
      [ALIAS_29]: newestFirst(UPDATES_29).slice(0, 2), [UPDATES_28]: newestFirst(UPDATES_28).slice(0, 1), [UPDATES_29]: newestFirst(UPDATES_29).slice(0, 2),
      [UPDATES_30]: newestFirst(UPDATES_30), [RAWHIDE]: newestFirst(RAWHIDE).slice(0, 2),
    });
    assert.deepEqual(real.aliases, [{ alias: ALIAS_29, target: UPDATES_29 }]);

    // The dry run reported exactly this: the same commits per ref, objects and bytes.
    assert.deepEqual(dry.refs, real.refs);
    assert.deepEqual(dry.objects, real.objects);
    assert.equal(dry.command, real.command);
    // As ostree counted them, and as the disk shows: every byte of the files that went.
    const deleted = Number(/^Deleted (\d+) objects, .* freed$/.exec(real.ostreeSaid)?.[1]);
    assert.equal(real.objects.deleted, deleted, real.ostreeSaid);
    assert.match(dry.ostreeSaid, new RegExp(`^Would delete: ${deleted} objects, freeing `));
    const left = objectsOnDisk(paths.ostreeRepo);
    assert.equal(real.objects.bytesFreed, onDisk.bytes - left.bytes);
    assert.equal(real.objects.after, real.objects.before - real.objects.deleted);
    assert.ok(real.objects.deleted > 0 && real.objects.bytesFreed > 0);
    // Signed summary: the worker has a key.
    assert.equal(real.summary, 'signed');
    assert.ok(existsSync(join(paths.ostreeRepo, 'summary.sig')));
    process.stdout.write(`# prune: ${real.objects.deleted} of ${real.objects.before} objects deleted, ${real.objects.bytesFreed} bytes freed (${real.ostreeSaid})\n`);

    // Again: everything is as the policies want it; nothing more goes.
    const again = await (await startOstreePrune(env.client, { policies: POLICIES }, trigger, new Date(now + 2000))).handle.result();
    assert.deepEqual([again.objects.deleted, again.objects.bytesFreed, again.refs.map((r) => r.removed)], [0, 0, [0, 0, 0, 0]]);
    assert.equal(again.ostreeSaid, 'No unreachable objects');
  });

  it('promotes a ref forward, refuses to move it back (CLI), moves it back when forced', async () => {
    for (const age of [3, 2, 1]) commit(TESTING_31, age);
    const [t1, t2, t3] = made[TESTING_31] as [string, string, string];
    ostree('refs', `--create=${UPDATES_31}`, t1);

    const dry = await (await startOstreePromote(env.client, { ref: UPDATES_31, commit: t3.slice(0, 12), dryRun: true }, trigger)).handle.result();
    assert.deepEqual([dry.dryRun, dry.plan.relation, dry.plan.commitsForward, dry.plan.commit, dry.outcome], [true, 'forward', 2, t3, null]);
    assert.equal(ostree('rev-parse', UPDATES_31), t1);

    const forwardHandle = (await startOstreePromote(env.client, { ref: UPDATES_31, commit: t3 }, trigger)).handle;
    const forward = await forwardHandle.result();
    await saveHistoryIfRecording('ostree-promote', forwardHandle);
    assert.deepEqual([forward.plan.from, forward.outcome?.moved, forward.outcome?.summary], [t1, true, 'signed']);
    assert.equal(ostree('rev-parse', UPDATES_31), t3);
    // Applied again (a retry after a crash): the ref is where the plan wanted it, nothing moves twice.
    assert.deepEqual(await lifecycle().promoteOstreeRef(forward.plan), forward.outcome);
    assert.equal(ostree('rev-parse', UPDATES_31), t3);
    assert.match(ostree('summary', '--view'), new RegExp(`\\* ${UPDATES_31}\\n\\s+Latest Commit \\(\\d+ bytes\\):\\n\\s+${t3}`));

    const back = await cli('ostree', 'promote', UPDATES_31, t2);
    assert.equal(back.code, 1);
    assert.equal(
      back.stderr,
      `relengotron: ${t2.slice(0, 12)} does not descend from ${UPDATES_31}'s commit ${t3.slice(0, 12)} (its history here goes back 2 commit(s) to ${t1.slice(0, 12)} of ${new Date(Math.floor((now - 3 * DAY) / 1000) * 1000).toISOString()}); ` +
        'a two-week release moves the stable ref forward only; --force moves it anyway (a rollback); nothing was changed\n',
    );
    assert.equal(ostree('rev-parse', UPDATES_31), t3);

    const forced = await cli('ostree', 'promote', UPDATES_31, t2, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      forced.stdout,
      `started: ostree/promote/${UPDATES_31}@${t2}\n` +
        `move ${UPDATES_31} from ${t3.slice(0, 12)} to ${t2.slice(0, 12)} (${TESTING_31} #2), which does not descend from it (forced); then regenerate the summary.\n` +
        `${UPDATES_31} now at ${t2} (was ${t3}); summary regenerated (signed).\n`,
    );
    assert.equal(ostree('rev-parse', UPDATES_31), t2);

    // No such commit; no such ref without --force.
    assert.equal((await refusalOf((await startOstreePromote(env.client, { ref: UPDATES_31, commit: 'ab'.repeat(32) }, trigger)).handle.result())).type, 'OstreePromoteRefused');
    const missing = await refusalOf((await startOstreePromote(env.client, { ref: 'fedora/31/x86_64/nothing', commit: t3 }, trigger)).handle.result());
    assert.match(missing.message, /^fedora\/31\/x86_64\/nothing does not exist in .*; --force creates it at/);
    assert.equal((await refusalOf((await startOstreePromote(env.client, { ref: '../evil', commit: t3 }, trigger)).handle.result())).type, 'UnsafePath');
  });

  it('makes an alias that resolves to its ref; the same alias again is a no-op, one over a real ref is refused', async () => {
    const alias = 'fedora/31/x86_64/iot';
    const dry = await (await startOstreeAlias(env.client, { alias, target: UPDATES_31, dryRun: true }, trigger)).handle.result();
    assert.deepEqual([dry.plan.action, dry.outcome], ['create', null]);
    assert.ok(!ostree('refs').split('\n').includes(alias));
    const aliasHandle = (await startOstreeAlias(env.client, { alias, target: UPDATES_31 }, trigger)).handle;
    const made31 = await aliasHandle.result();
    await saveHistoryIfRecording('ostree-alias', aliasHandle);
    assert.deepEqual([made31.outcome?.created, made31.outcome?.summary], [true, 'signed']);
    assert.ok(ostree('refs', '--alias').split('\n').includes(`${alias} -> ${UPDATES_31}`));
    assert.equal(ostree('rev-parse', alias), ostree('rev-parse', UPDATES_31));
    const again = await (await startOstreeAlias(env.client, { alias, target: UPDATES_31 }, trigger)).handle.result();
    assert.deepEqual([again.plan.action, again.outcome?.created], ['none', false]);
    const overRef = await refusalOf((await startOstreeAlias(env.client, { alias: TESTING_31, target: UPDATES_31 }, trigger)).handle.result());
    assert.equal(overRef.type, 'OstreeAliasRefused');
    assert.match(overRef.message, new RegExp(`^${TESTING_31} is a ref with its own commit `));
  });

  it("archives a release's refs with their whole history; fsck passes and signed commits verify in the archive", async () => {
    const [, t2, t3] = made[TESTING_31] as [string, string, string];
    for (const c of [t2, t3]) await signOstreeCommit(key, paths.ostreeRepo, c);
    const dry = await (await startOstreeArchive(env.client, { prefix: 'fedora/31/', dryRun: true }, trigger)).handle.result();
    assert.deepEqual(dry.plan.refs.map((r) => [r.ref, r.action, r.commits]), [['fedora/31/x86_64/iot', 'alias', 0], [TESTING_31, 'copy', 3], [UPDATES_31, 'copy', 2]]);
    assert.equal(existsSync(archiveRepo), false, 'a dry run writes no archive');

    const archiveHandle = (await startOstreeArchive(env.client, { prefix: 'fedora/31/' }, trigger)).handle;
    const done = await archiveHandle.result();
    await saveHistoryIfRecording('ostree-archive', archiveHandle);
    const outcome = done.outcome!;
    assert.match(outcome.fsck, /completed successfully - no errors found/);
    assert.deepEqual(outcome.verified.map((v) => [v.ref, v.commits]), [['fedora/31/x86_64/iot', 2], [TESTING_31, 3], [UPDATES_31, 2]]);
    assert.deepEqual(outcome.signatures, { signed: 2, verified: 2 });
    assert.equal(outcome.summary, 'signed');
    // Checked here again, independently of the run.
    assert.deepEqual(historyOf(TESTING_31, archived), historyOf(TESTING_31));
    assert.ok(archived('refs', '--alias').split('\n').includes(`fedora/31/x86_64/iot -> ${UPDATES_31}`));
    assert.match(archived('fsck'), /no errors found/);
    for (const c of [t2, t3]) assert.deepEqual(await ostreeSignatureStatus(key, archiveRepo, c), { signed: true, good: true });
    assert.deepEqual(archived('refs').split('\n').sort(), ['fedora/31/x86_64/iot', TESTING_31, UPDATES_31]);

    assert.deepEqual(await lifecycle().archiveOstreeRefs(done.plan), outcome, 'applied again, the same archive verifies the same');
    const again = await (await startOstreeArchive(env.client, { prefix: 'fedora/31' }, trigger)).handle.result();
    assert.deepEqual(again.plan.refs.map((r) => r.action), ['none', 'none', 'none']);
    assert.equal((await refusalOf((await startOstreeArchive(env.client, { prefix: 'fedora/99/' }, trigger)).handle.result())).type, 'OstreeArchiveRefused');
  });

  it('keeps the ostree-prune Schedule as config says: created by `up`, updated (not duplicated, a pause kept), triggered, its run reported; removed without policies', async () => {
    const policies: PruneRule[] = [...POLICIES, { match: 'fedora/31/**', policy: 'keep-all' }];
    // The service starting (only the releng worker, on this test's server, database and repository) makes the Schedule.
    const up = spawn(process.execPath, [CLI, 'up', '--only', 'releng'], {
      env: {
        ...cliEnvironment(policies), LOG_LEVEL: 'info', LOG_FORMAT: 'json', DATABASE_URL: db.url, RELENGOTRON_OSTREE_REPO: paths.ostreeRepo,
        FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`, RELENGOTRON_DASHBOARD_LISTEN: `127.0.0.1:${await freePort()}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let said = '';
    up.stdout.on('data', (d: Buffer) => (said += d.toString()));
    up.stderr.on('data', (d: Buffer) => (said += d.toString()));
    const exited = new Promise((resolve) => up.once('exit', resolve));
    try {
      await until(() => Promise.resolve(said.includes('"msg":"ostree-prune schedule created"')), 30_000).catch(() => assert.fail(`up did not make the schedule:\n${said}`));
    } finally {
      up.kill('SIGTERM');
      await exited;
    }
    const config = loadConfig({ RELENGOTRON_OSTREE_PRUNE_POLICIES: JSON.stringify(policies) });
    assert.equal(await syncOstreePruneSchedule(env.client, config, quiet), 'updated');
    const schedule = env.client.schedule.getHandle(scheduleIds.ostreePrune);
    const described = await schedule.describe();
    assert.deepEqual([described.policies.overlap, described.policies.catchupWindow, described.policies.pauseOnFailure, described.spec.timezone], ['SKIP', DAY, false, 'UTC']);
    const next = described.info.nextActionTimes[0]!;
    assert.deepEqual([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()], [0, 3, 0], 'Sundays at 03:00 UTC');
    const shown = await cli('ostree', 'prune-schedule');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^ostree-prune: hour 3, minute 0, dayOfWeek SUNDAY \(UTC\); overlapping runs: skip; catch-up window: 1d\n {2}paused: no\n {2}next runs: \d{4}-/);
    assert.match(shown.stdout, /\n {4}6\. fedora\/31\/\*\* keep-all$/m);

    await schedule.trigger();
    const action = await until(async () => (await schedule.describe()).info.recentActions[0]);
    assert.match(action.action.workflow.workflowId, /^ostree\/prune\/scheduled-/);
    const handle = env.client.workflow.getHandle(action.action.workflow.workflowId);
    const report = (await handle.result()) as PruneReport;
    assert.equal(report.dryRun, false);
    assert.deepEqual(report.refs.filter((r) => r.ref.startsWith('fedora/31/')).map((r) => [r.ref, r.after, r.removed]), [[TESTING_31, 3, 0], [UPDATES_31, 2, 0]]);
    assert.equal(report.objects.deleted, 0);
    assert.equal((await handle.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.triggerTopic), 'schedule.ostree-prune');
    await saveHistoryIfRecording('ostree-prune-scheduled', handle);

    // An operator's pause survives the next start's update.
    await schedule.pause('investigating');
    assert.equal(await syncOstreePruneSchedule(env.client, config, quiet), 'updated');
    assert.deepEqual([(await schedule.describe()).state.paused, (await schedule.describe()).state.note], [true, 'investigating']);
    assert.equal(await syncOstreePruneSchedule(env.client, loadConfig({}), quiet), 'removed');
    assert.match((await cli('ostree', 'prune-schedule')).stdout, /^no ostree-prune schedule/);
  });
});
