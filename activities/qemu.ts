/**
 * Test VMs under qemu directly, as Tunir's `type: vm` ran them: a throwaway qcow2 overlay on the
 * image, a cloud-init NoCloud seed (ISO labelled cidata: meta-data, user-data with our SSH key),
 * user-mode networking with SSH forwarded to a local port, the serial console in a log file.
 * KVM when it really works (a /dev/kvm that exists may still hang), TCG otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, accessSync, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../common/ports.js';
import { consoleTail, createOverlay, VmStartError, writeNoCloudSeed, type RunningVm } from './vm.js';

let accelerator: Promise<'kvm' | 'tcg'> | undefined;

/** Probes once per process: KVM only if qemu can start a KVM machine and quit within 10 s. */
export function detectAccelerator(qemu = 'qemu-system-x86_64'): Promise<'kvm' | 'tcg'> {
  accelerator ??= (async (): Promise<'kvm' | 'tcg'> => {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return 'tcg';
    }
    return new Promise<'kvm' | 'tcg'>((resolve) => {
      const probe = spawn(qemu, ['-accel', 'kvm', '-machine', 'q35', '-display', 'none', '-nodefaults', '-no-user-config', '-S', '-monitor', 'stdio'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const timer = setTimeout(() => {
        probe.kill('SIGKILL');
        resolve('tcg');
      }, 10_000);
      probe.on('error', () => resolve('tcg'));
      probe.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code === 0 ? 'kvm' : 'tcg');
      });
      probe.stdin.end('quit\n');
    });
  })();
  return accelerator;
}

export interface VmSpec {
  /** The image as downloaded and verified (kept pristine: the VM writes to an overlay). */
  readonly image: string;
  readonly format: 'qcow2' | 'raw';
  /** A directory of this VM's own, removed at teardown. */
  readonly workDir: string;
  readonly hostname: string;
  readonly instanceId: string;
  readonly publicKey: string;
  readonly memoryMb: number;
  readonly cpus: number;
}

export async function bootVm(spec: VmSpec, qemu = 'qemu-system-x86_64'): Promise<RunningVm> {
  const overlay = await createOverlay(spec.image, spec.format, spec.workDir);
  const seed = await writeNoCloudSeed(spec);
  const accel = await detectAccelerator(qemu);
  const sshPort = await freePort();
  const serialLog = join(spec.workDir, 'serial.log');
  const qemuLog = createWriteStream(join(spec.workDir, 'qemu.log'));
  const args = [
    '-accel', accel, '-m', String(spec.memoryMb), '-smp', String(spec.cpus),
    '-display', 'none', '-monitor', 'none', '-serial', `file:${serialLog}`, '-no-user-config',
    '-drive', `file=${overlay},if=virtio,format=qcow2`,
    '-drive', `file=${seed},if=virtio,format=raw,readonly=on`,
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0',
    '-device', 'virtio-rng-pci',
  ];
  let child: ChildProcess;
  try {
    // Killed with its worker: a worker that dies mid-test must not leave a VM running.
    child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', qemu, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new VmStartError(`cannot run ${qemu}: ${(err as Error).message}`);
  }
  child.stdout?.pipe(qemuLog);
  child.stderr?.pipe(qemuLog);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  let destroyed = false;
  return {
    sshPort,
    accelerator: accel,
    backend: 'qemu',
    exited,
    consoleTail: (lines) => consoleTail(serialLog, lines),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      qemuLog.end();
      await rm(spec.workDir, { recursive: true, force: true });
    },
  };
}
