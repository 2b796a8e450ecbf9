/**
 * Test VMs under qemu directly, as Tunir's `type: vm` ran them: a throwaway qcow2 overlay on the
 * image, a cloud-init NoCloud seed (ISO labelled cidata: meta-data, user-data with our SSH key),
 * user-mode networking with SSH forwarded to a local port, the serial console in a log file.
 * KVM when it really works (a /dev/kvm that exists may still hang), TCG otherwise.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants, accessSync, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../common/ports.js';

const run = promisify(execFile);

export type Accelerator = 'kvm' | 'tcg';

let accelerator: Promise<Accelerator> | undefined;

/** Probes once per process: KVM only if qemu can start a KVM machine and quit within 10 s. */
export function detectAccelerator(qemu = 'qemu-system-x86_64'): Promise<Accelerator> {
  accelerator ??= (async (): Promise<Accelerator> => {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return 'tcg';
    }
    return new Promise<Accelerator>((resolve) => {
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

export interface RunningVm {
  readonly sshPort: number;
  readonly accelerator: Accelerator;
  readonly serialLog: string;
  /** Kills qemu and deletes the overlay, the seed and the work directory. Safe to call twice. */
  destroy(): Promise<void>;
  /** The last lines of the serial console, for error messages. */
  consoleTail(lines?: number): Promise<string>;
  readonly exited: Promise<number | null>;
}

export class VmStartError extends Error {
  override name = 'VmStartError';
}

/** The NoCloud seed as cloud-init reads it: an ISO 9660 volume labelled cidata. */
async function writeSeed(spec: VmSpec): Promise<string> {
  const dir = join(spec.workDir, 'seed');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'meta-data'), `instance-id: ${spec.instanceId}\nlocal-hostname: ${spec.hostname}\n`);
  await writeFile(join(dir, 'user-data'), `#cloud-config\nssh_pwauth: false\nssh_authorized_keys:\n  - ${spec.publicKey.trim()}\n`);
  const iso = join(spec.workDir, 'seed.iso');
  try {
    await run('genisoimage', ['-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', join(dir, 'user-data'), join(dir, 'meta-data')]);
  } catch (err) {
    throw new VmStartError(`cannot make the NoCloud seed (genisoimage): ${(err as Error).message}`);
  }
  return iso;
}

export async function bootVm(spec: VmSpec, qemu = 'qemu-system-x86_64'): Promise<RunningVm> {
  await mkdir(spec.workDir, { recursive: true });
  const overlay = join(spec.workDir, 'overlay.qcow2');
  try {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', spec.image, '-F', spec.format, overlay]);
  } catch (err) {
    throw new VmStartError(`cannot make an overlay on ${spec.image}: ${(err as Error).message}`);
  }
  const seed = await writeSeed(spec);
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
    child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    serialLog,
    exited,
    async consoleTail(lines = 20) {
      const text = await readFile(serialLog, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines).join('\n');
    },
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
