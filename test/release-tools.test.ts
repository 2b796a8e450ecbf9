/**
 * The release steps' tools, for real: gpg clearsigning CHECKSUM files and signing OSTree commits
 * under a throwaway key, `ostree` committing a tree onto a ref, rsync syncing into a mirror tree
 * with an atomic `latest`, including a sync killed midway.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { commitTree, refCommit } from '../activities/ostree.js';
import { createMirrorActivities, syncTree, SyncError } from '../activities/mirror.js';
import { clearsignFile, ostreeSignatureStatus, signOstreeCommit, SigningError, verifyClearsigned } from '../activities/signing.js';
import { makeSigningKey, stopGpgAgents, TEST_PASSPHRASE } from './helpers/gpg.js';

after(stopGpgAgents);

const scratch = () => mkdtempSync(join(tmpdir(), 'relengotron-release-'));

function tree(files: Record<string, string | Buffer>): string {
  const dir = scratch();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

describe('signing with gpg', () => {
  const key = makeSigningKey();

  it('clearsigns a CHECKSUM file in place, once, and verifies it', async () => {
    const dir = scratch();
    const file = join(dir, 'Fedora-Cloud-43-x86_64-CHECKSUM');
    writeFileSync(file, 'SHA256 (Fedora-Cloud-Base-43.x86_64.qcow2) = 0123\n');
    assert.deepEqual(await clearsignFile(key, file), { signedNow: true });
    const signed = readFileSync(file, 'utf8');
    assert.match(signed, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSHA256 \(Fedora-Cloud-Base-43.x86_64.qcow2\) = 0123\n-----BEGIN PGP SIGNATURE-----/);
    assert.deepEqual(await clearsignFile(key, file), { signedNow: false }, 'an already signed file is left alone');
    assert.equal(readFileSync(file, 'utf8'), signed);
    assert.ok(!signed.includes(TEST_PASSPHRASE));
  });

  it('refuses a tampered file, a file signed by another key, and a wrong passphrase', async () => {
    const dir = scratch();
    const file = join(dir, 'CHECKSUM');
    writeFileSync(file, 'SHA256 (a.iso) = 00\n');
    await clearsignFile(key, file);
    writeFileSync(file, readFileSync(file, 'utf8').replace('= 00', '= 11'));
    await assert.rejects(verifyClearsigned(key, file), (err: unknown) => err instanceof SigningError && /does not verify/.test(err.message));

    const other = makeSigningKey('someone else');
    const theirs = join(dir, 'THEIRS-CHECKSUM');
    writeFileSync(theirs, 'SHA256 (b.iso) = 00\n');
    await clearsignFile(other, theirs);
    execFileSync('gpg', ['--homedir', other.homedir, '--batch', '--output', join(dir, 'other.pub'), '--export', other.fingerprint]);
    execFileSync('gpg', ['--homedir', key.homedir, '--batch', '--import', join(dir, 'other.pub')], { stdio: 'ignore' });
    await assert.rejects(verifyClearsigned(key, theirs), (err: unknown) => err instanceof SigningError && new RegExp(`not signed by ${key.keyId} \\(signed by ${other.fingerprint}\\)`).test(err.message));

    // A key gpg-agent has not unlocked yet (the agent keeps a passphrase it was given for a while).
    const locked = makeSigningKey('locked');
    const wrong = join(scratch(), 'passphrase');
    writeFileSync(wrong, 'not the passphrase\n');
    const unsigned = join(dir, 'UNSIGNED-CHECKSUM');
    writeFileSync(unsigned, 'SHA256 (c.iso) = 00\n');
    await assert.rejects(clearsignFile({ ...locked, passphraseFile: wrong }, unsigned), (err: unknown) => {
      assert.ok(err instanceof SigningError);
      assert.match(err.message, /gpg failed: .*(Bad passphrase|bad passphrase|signing failed)/i);
      assert.ok(!err.message.includes('not the passphrase'));
      return true;
    });
  });
});

describe('OSTree commits', () => {
  const key = makeSigningKey();

  it('commits a tree onto a ref with its version; a retried step finds its commit; signing happens once', async () => {
    const repo = join(scratch(), 'repo');
    const ref = 'fedora/43/x86_64/iot';
    const first = await commitTree({ repo, ref, tree: tree({ 'usr/lib/os-release': 'VERSION_ID=43\n' }), subject: 'push 1', version: '43.20261123.0', stepId: 'push-1/ostree' });
    assert.equal(first.createdNow, true);
    assert.equal(first.parent, null);
    assert.equal(await refCommit(repo, ref), first.commit);
    assert.equal(execFileSync('ostree', ['show', `--repo=${repo}`, '--print-metadata-key=version', first.commit], { encoding: 'utf8' }).trim(), "'43.20261123.0'");
    const again = await commitTree({ repo, ref, tree: tree({ 'usr/lib/os-release': 'VERSION_ID=43\n' }), subject: 'push 1', version: '43.20261123.0', stepId: 'push-1/ostree' });
    assert.deepEqual({ commit: again.commit, createdNow: again.createdNow }, { commit: first.commit, createdNow: false });
    const second = await commitTree({ repo, ref, tree: tree({ 'usr/lib/os-release': 'VERSION_ID=43\nBUILD=2\n' }), subject: 'push 2', version: '43.20261123.1', stepId: 'push-2/ostree' });
    assert.equal(second.parent, first.commit);
    assert.ok(readdirSync(repo).includes('summary'));

    assert.deepEqual(await ostreeSignatureStatus(key, repo, second.commit), { signed: false, good: false });
    assert.deepEqual(await signOstreeCommit(key, repo, second.commit), { signedNow: true });
    assert.deepEqual(await signOstreeCommit(key, repo, second.commit), { signedNow: false });
    assert.deepEqual(await ostreeSignatureStatus(key, repo, second.commit), { signed: true, good: true });
    const shown = execFileSync('ostree', ['show', `--repo=${repo}`, second.commit], { encoding: 'utf8' });
    assert.match(shown, /Found 1 signature:/);
    const stranger = makeSigningKey('not ours');
    assert.deepEqual(await ostreeSignatureStatus(stranger, repo, second.commit), { signed: true, good: false });
  });
});

describe('release sync into the mirror tree', () => {
  it('syncs a tree and swaps latest to it; a sync killed midway leaves the old tree served; the next attempt completes', async () => {
    const mirror = scratch();
    const v1 = tree({ 'x86_64/os/repodata/repomd.xml': '<repomd>1</repomd>', 'x86_64/os/Packages/a.rpm': 'a1' });
    const first = await syncTree({ source: v1, mirrorRoot: mirror, name: 'push-1', latest: 'latest' });
    assert.deepEqual({ previous: first.previous, link: readlinkSync(join(mirror, 'latest')) }, { previous: null, link: 'push-1' });

    const big: Record<string, Buffer> = { 'x86_64/os/repodata/repomd.xml': Buffer.from('<repomd>2</repomd>') };
    for (let i = 0; i < 16; i++) big[`x86_64/os/Packages/p${i}.rpm`] = randomBytes(512 * 1024);
    const v2 = tree(big);
    const stop = new AbortController();
    const interrupted = syncTree({ source: v2, mirrorRoot: mirror, name: 'push-2', latest: 'latest', bandwidthLimitKiBs: 1024 }, { signal: stop.signal });
    await new Promise((r) => setTimeout(r, 2000));
    stop.abort();
    await assert.rejects(interrupted, (err: unknown) => err instanceof SyncError || (err as Error).name === 'AbortError');
    // Still the old tree, whole; the new one is not visible under its final names yet.
    assert.equal(readlinkSync(join(mirror, 'latest')), 'push-1');
    assert.equal(readFileSync(join(mirror, 'latest/x86_64/os/repodata/repomd.xml'), 'utf8'), '<repomd>1</repomd>');
    assert.ok(!readdirSync(join(mirror, 'push-2')).includes('x86_64') || !readdirSync(join(mirror, 'push-2/x86_64/os/Packages')).some((f) => f.endsWith('.rpm')), 'delay-updates: nothing half-visible');

    const done = await syncTree({ source: v2, mirrorRoot: mirror, name: 'push-2', latest: 'latest' });
    assert.equal(done.previous, 'push-1');
    assert.equal(readlinkSync(join(mirror, 'latest')), 'push-2');
    for (const [path, content] of Object.entries(big)) assert.ok(readFileSync(join(mirror, 'latest', path)).equals(content), path);

    // An aborted push removes the tree it left half-synced, never the published one.
    const stop3 = new AbortController();
    const third = syncTree({ source: v2, mirrorRoot: mirror, name: 'push-3', latest: 'latest', bandwidthLimitKiBs: 512 }, { signal: stop3.signal });
    await new Promise((r) => setTimeout(r, 1000));
    stop3.abort();
    await assert.rejects(third);
    const mirrorActivities = createMirrorActivities({ mirrorRoot: mirror });
    assert.deepEqual(await mirrorActivities.removeUnpublishedTree({ path: '', name: 'push-3' }), { removed: true });
    assert.deepEqual(await mirrorActivities.removeUnpublishedTree({ path: '', name: 'push-2' }), { removed: false });
    assert.deepEqual(readdirSync(mirror).sort(), ['latest', 'push-1', 'push-2']);
  });
});
