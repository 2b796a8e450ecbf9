/**
 * First contact on a machine that lacks things: the setup script every README command runs says
 * what is missing and installs it (or, without root or sudo, prints the one command to run), and
 * the demo says in one plain sentence what it needs before it starts anything.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SETUP = join(REPO, 'scripts/setup-system.sh');
const CLI = join(REPO, 'dist/client/cli.js');

/** A PATH with only these programs: a machine where everything else is missing. */
function barePath(programs: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'relengotron-bare-'));
  chmodSync(dir, 0o755);
  for (const program of programs) symlinkSync(`/usr/bin/${program}`, join(dir, program));
  return dir;
}

const failure = (err: unknown) => err as { code: number; stdout: string; stderr: string };

describe('first contact: what a fresh machine lacks is said, and installed', () => {
  it('finds nothing missing here (the tests run on what it installed), quickly', async () => {
    const started = Date.now();
    const { stdout } = await run('bash', [SETUP, '--check', '--tests']);
    assert.equal(stdout, '');
    assert.ok(Date.now() - started < 5000);
  });

  it('names the packages a bare machine lacks, by its package manager', async () => {
    const env = { ...process.env, PATH: barePath(['cut', 'id', 'date', 'apt-get']) };
    const err = failure(await run('/bin/bash', [SETUP, '--check'], { env }).catch((e: unknown) => e));
    assert.equal(err.code, 1);
    assert.match(err.stdout, /^missing system packages: qemu-system-x86 qemu-utils genisoimage openssh-client xz-utils ostree gnupg rsync rpm createrepo-c libarchive-tools util-linux openssl$/m);
  });

  it('without root or sudo, stops with the one command to run', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to become an unprivileged user');
    const path = barePath(['cut', 'id', 'date', 'apt-get']);
    // A copy the unprivileged user can read, wherever the checkout lives.
    const script = join(path, 'setup-system.sh');
    copyFileSync(SETUP, script);
    chmodSync(script, 0o755);
    const err = failure(
      await run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '/usr/bin/env', `PATH=${path}`, '/bin/bash', script], { cwd: '/' }).catch((e: unknown) => e),
    );
    assert.equal(err.code, 1);
    assert.match(err.stderr, /^releng-o-tron needs these system packages: qemu-system-x86 .* openssl\.\nRun this once, then try again:\n {2}sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 .* openssl\n$/);
  });

  it('the demo on a machine without the programs says so in one plain sentence, starting nothing', async () => {
    const env = { ...process.env, PATH: barePath(['node']), RELENGOTRON_DATA_DIR: mkdtempSync(join(tmpdir(), 'relengotron-bare-data-')) };
    const err = failure(await run(process.execPath, [CLI, 'demo'], { env, timeout: 30_000 }).catch((e: unknown) => e));
    assert.equal(err.code, 1);
    assert.equal(err.stdout, '');
    assert.match(
      err.stderr,
      /^relengotron: The demo needs programs this machine does not have: qemu-system-x86_64 \(booting test VMs\), qemu-img \(test VM disks\), .*bsdtar \(unpacking RPMs into trees safely\)\. Install them with: npm run setup {3}\(scripts\/setup-system\.sh: installs the system packages, as root or with sudo\)\n$/,
    );
    assert.doesNotMatch(err.stderr, /"level"|\{"/, 'no JSON log line');
  });
});
