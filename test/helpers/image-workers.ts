/**
 * Image-test hosts as real worker processes (workers/image-libvirt.js, image-vbox.js) against the
 * test's Temporal, each with its own cache, and compose-testing settings small enough for a test.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DEFAULT_TEST_PLANS } from '../../common/compose-testing.js';
import { loadConfig, type ComposeTestingConfig } from '../../common/config.js';

const WORKERS = { libvirt: fileURLToPath(new URL('../../workers/image-libvirt.js', import.meta.url)), vbox: fileURLToPath(new URL('../../workers/image-vbox.js', import.meta.url)) };
export const vmRoot = mkdtempSync(join(tmpdir(), 'relengotron-vms-'));
const imageWorkers: ChildProcess[] = [];

/** The default plans (with a reboot and POLL) in small VMs, and timeouts a test can wait for. */
export function testingConfig(overrides: Record<string, unknown> = {}): ComposeTestingConfig {
  return loadConfig(testingConfigEnv(overrides)).composeTesting;
}

/** testingConfig() as a process's environment says it (RELENGOTRON_COMPOSE_TESTING). */
export function testingConfigEnv(overrides: Record<string, unknown> = {}): { RELENGOTRON_COMPOSE_TESTING: string } {
  const plans = Object.fromEntries(Object.entries(DEFAULT_TEST_PLANS).map(([type, plan]) => [type, { ...plan, memoryMb: 256 }]));
  return {
    RELENGOTRON_COMPOSE_TESTING: JSON.stringify({
      plans,
      commandTimeout: '30s',
      bootTimeout: '2m',
      pollInterval: '2s',
      hostHeartbeatTimeout: '10s',
      waitForHost: '5m',
      attempts: 2,
      ...overrides,
    }),
  };
}

export interface ImageWorker {
  readonly child: ChildProcess;
  /** How the worker names itself in job records. */
  readonly host: string;
  output(): string;
}

export function startImageWorker(env: TestWorkflowEnvironment, provider: 'libvirt' | 'vbox', slots: number): ImageWorker {
  let output = '';
  const child = spawn(process.execPath, [WORKERS[provider]], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      RELENGOTRON_DATA_DIR: mkdtempSync(join(tmpdir(), 'relengotron-host-')),
      // Each worker is its own host with its own cache; they share the machine's VM directory.
      RELENGOTRON_IMAGE_CACHE: mkdtempSync(join(tmpdir(), 'relengotron-cache-')),
      RELENGOTRON_VM_DIR: vmRoot,
      [provider === 'libvirt' ? 'RELENGOTRON_LIBVIRT_SLOTS' : 'RELENGOTRON_VBOX_SLOTS']: String(slots),
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  imageWorkers.push(child);
  return { child, host: `${execFileSync('hostname', { encoding: 'utf8' }).trim()}/${child.pid}`, output: () => output };
}

export async function stopImageWorkers(): Promise<void> {
  await Promise.all(
    imageWorkers.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

