/**
 * Test VMs under VirtualBox, for vagrant-virtualbox boxes, driven through VBoxManage as Tunir's
 * Vagrant jobs were (without Vagrant: the box's OVF is imported directly). The VM gets the same
 * NoCloud seed as under qemu, on a SATA DVD drive, and SSH forwarded through NAT.
 *
 * VirtualBox cannot share a host with KVM, so this runs only on `image-vbox` workers.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../common/ports.js';
import { consoleTail, VmStartError, writeNoCloudSeed, type RunningVm } from './vm.js';

const run = promisify(execFile);

export interface VirtualBoxVmSpec {
  /** The box's OVF, unpacked and verified. */
  readonly ovf: string;
  readonly workDir: string;
  /** Unique on the host: VirtualBox registers VMs by name. */
  readonly name: string;
  readonly hostname: string;
  readonly instanceId: string;
  readonly publicKey: string;
  readonly memoryMb: number;
  readonly cpus: number;
}

async function vboxManage(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run('VBoxManage', [...args], { timeout: timeoutMs });
  return stdout;
}

export async function bootVirtualBoxVm(spec: VirtualBoxVmSpec): Promise<RunningVm> {
  try {
    await vboxManage(['--version'], 10_000);
  } catch {
    throw new VmStartError(`VBoxManage is not installed on ${hostname()}: this host cannot run VirtualBox images`);
  }
  await mkdir(spec.workDir, { recursive: true });
  const seed = await writeNoCloudSeed(spec);
  const sshPort = await freePort();
  const serialLog = join(spec.workDir, 'serial.log');
  let registered = false;
  const destroy = async () => {
    if (registered) {
      await vboxManage(['controlvm', spec.name, 'poweroff'], 60_000).catch(() => undefined);
      await vboxManage(['unregistervm', spec.name, '--delete'], 60_000).catch(() => undefined);
      registered = false;
    }
    await rm(spec.workDir, { recursive: true, force: true });
  };
  try {
    await vboxManage(['import', spec.ovf, '--vsys', '0', '--vmname', spec.name, '--basefolder', spec.workDir], 600_000);
    registered = true;
    await vboxManage([
      'modifyvm', spec.name, '--memory', String(spec.memoryMb), '--cpus', String(spec.cpus),
      '--nic1', 'nat', '--natpf1', `ssh,tcp,127.0.0.1,${sshPort},,22`,
      '--uart1', '0x3F8', '4', '--uartmode1', 'file', serialLog,
    ]);
    await vboxManage(['storagectl', spec.name, '--name', 'relengotron-seed', '--add', 'sata', '--portcount', '1']);
    await vboxManage(['storageattach', spec.name, '--storagectl', 'relengotron-seed', '--port', '0', '--device', '0', '--type', 'dvddrive', '--medium', seed]);
    await vboxManage(['startvm', spec.name, '--type', 'headless']);
  } catch (err) {
    await destroy();
    throw new VmStartError(`VirtualBox could not start ${spec.name}: ${(err as Error).message.split('\n')[0]}`);
  }
  const exited = new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      if (!registered) {
        clearInterval(timer);
        return resolve(null);
      }
      vboxManage(['showvminfo', spec.name, '--machinereadable'], 10_000)
        .then((info) => {
          if (/^VMState="(poweroff|aborted)"/m.test(info)) {
            clearInterval(timer);
            resolve(null);
          }
        })
        .catch(() => undefined);
    }, 5000);
  });
  return {
    sshPort,
    accelerator: 'virtualbox',
    backend: 'virtualbox',
    exited,
    // VirtualBox has its own hypervisor; its failures end the VM (exited) instead.
    acceleratorFault: new Promise<string>(() => undefined),
    consoleTail: (lines) => consoleTail(serialLog, lines),
    destroy,
  };
}
