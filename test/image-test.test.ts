/**
 * A real VM: the test image (built from Debian packages) boots under qemu with a NoCloud seed,
 * a Tunir plan runs in it over SSH, and the VM is gone afterwards whatever happened.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { bootLibvirtVm, libvirtAnswers } from '../activities/libvirt.js';
import { createImageTestActivities, sweepAbandonedWorkDirs, TEST_PLAN_INVALID, type RunImageTestInput, type RunImageTestResult } from '../activities/image-test.js';
import { ImageCache } from '../activities/image-cache.js';
import { ensureTestImage, type TestImage } from '../devstack/test-image.js';

const run = promisify(execFile);
let image: TestImage;
const workRoot = mkdtempSync(join(tmpdir(), 'relengotron-vms-'));
const activities = createImageTestActivities({ workRoot, cache: new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-'))) });
const runTest = (env: MockActivityEnvironment, i: RunImageTestInput): Promise<RunImageTestResult> => env.run((x: RunImageTestInput) => activities.runImageTest(x), i);

function input(plan: string, overrides: Partial<RunImageTestInput> = {}): RunImageTestInput {
  return {
    jobId: `job-${Date.now()}`, image: image.qcow2, format: 'qcow2', plan, user: 'fedora', memoryMb: 256,
    commandTimeoutMs: 20_000, bootTimeoutMs: 120_000, pollAttempts: 30, pollIntervalMs: 2_000, ...overrides,
  };
}

const qemuRunning = () => {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system-x86_64.*${workRoot}`], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false;
  }
};

describe('image tests in a real VM (qemu, NoCloud seed, SSH)', () => {
  before(async () => {
    image = await ensureTestImage();
  });

  it('runs a Tunir plan: gating, expected failure, non-gating, reboot and poll', async () => {
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const plan = ['hostname', 'echo hello from $(uname -s)', '## exit 3', '@@ false', 'cat /proc/sys/kernel/random/boot_id', '@@ sudo reboot', 'POLL', 'cat /proc/sys/kernel/random/boot_id'].join('\n');
    const result = await runTest(env, input(plan));
    const byLine = result.outcomes.map((o) => ({ line: o.line, exitCode: o.exitCode, passed: o.passed, gating: o.gating }));
    assert.deepEqual(byLine, [
      { line: 1, exitCode: 0, passed: true, gating: true },
      { line: 2, exitCode: 0, passed: true, gating: true },
      { line: 3, exitCode: 3, passed: false, gating: false },
      { line: 4, exitCode: 1, passed: true, gating: true },
      { line: 5, exitCode: 0, passed: true, gating: true },
      { line: 6, exitCode: 255, passed: true, gating: true },
      { line: 8, exitCode: 0, passed: true, gating: true },
    ]);
    assert.equal(result.outcomes[0]!.output.trim(), 'relengotron-test');
    assert.equal(result.outcomes[1]!.output.trim(), 'hello from Linux');
    assert.notEqual(result.outcomes[4]!.output.trim(), result.outcomes[6]!.output.trim(), 'the VM really rebooted');
    assert.deepEqual(result.summary.nonGating, { total: 1, passed: 0, failed: 1 });
    assert.equal(result.summary.passed, true);
    assert.ok(heartbeats.length >= 8);
    assert.equal(qemuRunning(), false);
    assert.deepEqual(readdirSync(workRoot), []);
  });

  it('stops at the first failed gating command, and a command that hangs times out', async () => {
    const env = new MockActivityEnvironment();
    const result = await runTest(env, input('echo one\nsleep 60\necho never', { commandTimeoutMs: 3_000 }));
    assert.equal(result.outcomes.length, 2);
    assert.equal(result.outcomes[1]!.timedOut, true);
    assert.equal(result.outcomes[1]!.exitCode, null);
    assert.equal(result.summary.passed, false);
    assert.equal(result.summary.failedAt?.line, 2);
    assert.equal(qemuRunning(), false);
  });

  it('refuses a plan it cannot run, before booting anything', async () => {
    const env = new MockActivityEnvironment();
    await assert.rejects(runTest(env, input('HOSTCOMMAND: ls\nls')), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, TEST_PLAN_INVALID);
      assert.match(err.message, /line 1: HOSTCOMMAND is not supported/);
      return true;
    });
  });

  it('tears the VM down when the activity is cancelled mid-plan', async () => {
    const env = new MockActivityEnvironment();
    const running = runTest(env, input('sleep 120'));
    const deadline = Date.now() + 120_000;
    while (!qemuRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 15_000));
    env.cancel();
    await assert.rejects(running);
    assert.equal(qemuRunning(), false);
    assert.deepEqual(readdirSync(workRoot), []);
  });

  describe('through libvirt, where libvirtd runs', () => {
    const uri = process.env['LIBVIRT_DEFAULT_URI'] ?? 'qemu:///system';
    const domains = () => execFileSync('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('relengotron-'));
    let answers = false;
    before(async () => {
      answers = await libvirtAnswers(uri);
    });

    it('runs the plan in a transient libvirt domain, reboot included, and leaves no domain behind', async (t) => {
      if (!answers) return t.skip(`libvirtd does not answer at ${uri}`);
      const viaLibvirt = createImageTestActivities({ workRoot, cache: new ImageCache(mkdtempSync(join(tmpdir(), 'relengotron-cache-'))), vmBackend: { kind: 'libvirt', uri } });
      const env = new MockActivityEnvironment();
      const plan = ['hostname', 'cat /proc/sys/kernel/random/boot_id', '@@ sudo reboot', 'POLL', 'cat /proc/sys/kernel/random/boot_id'].join('\n');
      const result: RunImageTestResult = await env.run((i: RunImageTestInput) => viaLibvirt.runImageTest(i), input(plan));
      assert.equal(result.summary.passed, true, JSON.stringify(result.outcomes));
      assert.equal(result.outcomes[0]!.output.trim(), 'relengotron-test');
      assert.notEqual(result.outcomes[1]!.output.trim(), result.outcomes[3]!.output.trim(), 'the domain rebooted');
      assert.deepEqual(domains(), []);
      assert.deepEqual(readdirSync(workRoot), []);
    });

    it('destroys the domain a killed worker left running, when the next job sweeps', async (t) => {
      if (!answers) return t.skip(`libvirtd does not answer at ${uri}`);
      // A job directory as a worker that died mid-test leaves it: its pid is gone, its domain runs.
      const dead = spawn('true');
      await new Promise((r) => dead.once('exit', r));
      const jobDir = join(workRoot, 'job-orphan-x');
      mkdirSync(jobDir, { recursive: true });
      writeFileSync(join(jobDir, 'owner.pid'), String(dead.pid));
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(jobDir, 'key')]);
      await bootLibvirtVm({ image: image.qcow2, format: 'qcow2', workDir: join(jobDir, 'vm'), hostname: 'orphan', instanceId: 'orphan', publicKey: readFileSync(join(jobDir, 'key.pub'), 'utf8'), memoryMb: 256, cpus: 1, uri, accelerator: 'tcg' });
      assert.deepEqual(domains(), ['relengotron-orphan']);
      assert.deepEqual(await sweepAbandonedWorkDirs(workRoot), [jobDir]);
      assert.deepEqual(domains(), []);
    });
  });
});
