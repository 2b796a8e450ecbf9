/**
 * Test VMs under qemu directly, as Tunir's `type: vm` ran them: a throwaway qcow2 overlay on the
 * image, a cloud-init NoCloud seed (ISO labelled cidata: meta-data, user-data with our SSH key),
 * user-mode networking with SSH forwarded to a local port, the serial console in a log file.
 * The accelerator is the host's (activities/accelerator.ts); a KVM fault qemu reports while the
 * VM runs is handed to the caller at once, which restarts the VM under TCG.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnTied } from '../common/tied-process.js';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../common/ports.js';
import { KVM_FAULT_PATTERN, type QemuAccelerator } from './accelerator.js';
import { consoleTail, createOverlay, VmStartError, writeNoCloudSeed, type RunningVm } from './vm.js';

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
  /** Chosen by the host (HostAccelerator), never by the VM. */
  readonly accelerator: QemuAccelerator;
  /** The qemu binary (workers.qemu); the tests put a wrapper there. */
  readonly qemu?: string;
}

export async function bootVm(spec: VmSpec): Promise<RunningVm> {
  const qemu = spec.qemu ?? 'qemu-system-x86_64';
  const overlay = await createOverlay(spec.image, spec.format, spec.workDir);
  const seed = await writeNoCloudSeed(spec);
  const accel = spec.accelerator;
  const sshPort = await freePort();
  const serialLog = join(spec.workDir, 'serial.log');
  const qemuLog = createWriteStream(join(spec.workDir, 'qemu.log'));
  const args = [
    '-accel', accel, '-m', String(spec.memoryMb), '-smp', String(spec.cpus),
    '-display', 'none', '-monitor', 'none', '-serial', `file:${serialLog}`, '-no-user-config',
    '-drive', `file=${overlay},if=virtio,format=qcow2`,
    '-drive', `file=${seed},if=virtio,format=raw,readonly=on`,
    // restrict=on: the guest reaches neither the host nor any network; only the SSH forward gets in.
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0',
    '-device', 'virtio-rng-pci',
  ];
  let child: ChildProcess;
  try {
    // Killed with its worker: a worker that dies mid-test must not leave a VM running.
    child = spawnTied(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] }, 'KILL');
  } catch (err) {
    throw new VmStartError(`cannot run ${qemu}: ${(err as Error).message}`);
  }
  child.stdout?.pipe(qemuLog);
  child.stderr?.pipe(qemuLog);
  // qemu pauses a VM KVM cannot run and says why on stderr; it does not exit.
  const acceleratorFault = new Promise<string>((resolve) => {
    let said = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      said = (said + chunk.toString('utf8')).slice(-4096);
      const fault = KVM_FAULT_PATTERN.exec(said);
      if (fault) resolve(said.slice(fault.index).split('\n').slice(0, 2).join(' / ').trim());
    });
  });
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
    acceleratorFault,
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
