/**
 * Test VMs through libvirt, on hosts where libvirtd runs (Autocloud's libvirt backend): a
 * transient domain, gone when destroyed, with the same overlay, NoCloud seed and forwarded SSH
 * port as under qemu directly. libvirt starts qemu itself, so a worker killed mid-test leaves the
 * domain running: its name is written into the VM's directory for the next sweep to destroy.
 *
 * The hypervisor's user must be able to read the image cache and the VM directory (on a
 * dedicated test host: `user = "root"` in /etc/libvirt/qemu.conf, or world-traversable paths).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../common/ports.js';
import { KVM_FAULT_PATTERN } from './accelerator.js';
import type { VmSpec } from './qemu.js';
import { consoleTail, createOverlay, VmStartError, writeNoCloudSeed, type RunningVm } from './vm.js';

const run = promisify(execFile);

/** The file in a job's directory that names its libvirt domain. */
export const LIBVIRT_DOMAIN_FILE = 'libvirt-domain';

const virsh = async (uri: string, args: readonly string[], timeoutMs = 60_000): Promise<string> =>
  (await run('virsh', ['-q', '-c', uri, ...args], { timeout: timeoutMs })).stdout;

/** True when virsh is installed and the daemon at `uri` answers. */
export async function libvirtAnswers(uri: string): Promise<boolean> {
  try {
    await virsh(uri, ['version'], 10_000);
    return true;
  } catch {
    return false;
  }
}

export async function destroyLibvirtDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['destroy', name]).catch(() => undefined);
}

const xmlText = (value: string): string => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

function domainXml(options: { name: string; type: 'kvm' | 'qemu'; memoryMb: number; cpus: number; overlay: string; seed: string; serialLog: string; sshPort: number }): string {
  const f = (path: string) => xmlText(path);
  // libvirt 9 forwards ports on user networking only with passt; qemu's own SLIRP does it here,
  // on a PCI slot of its own (libvirt hands out the low ones to the devices it knows about).
  return `<domain type='${options.type}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${xmlText(options.name)}</name>
  <memory unit='MiB'>${options.memoryMb}</memory>
  <vcpu>${options.cpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_reboot>restart</on_reboot>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f(options.overlay)}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${f(options.seed)}'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <serial type='file'><source path='${f(options.serialLog)}'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/><qemu:arg value='user,id=relengotron-net,restrict=on,hostfwd=tcp:127.0.0.1:${options.sshPort}-:22'/>
    <qemu:arg value='-device'/><qemu:arg value='virtio-net-pci,netdev=relengotron-net,bus=pci.0,addr=0x1e'/>
  </qemu:commandline>
</domain>
`;
}

/** Where libvirtd keeps a domain's qemu log: the system daemon's, or a session daemon's. */
function qemuLogPaths(uri: string, name: string): string[] {
  return uri.includes('/session')
    ? [join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'libvirt', 'qemu', 'log', `${name}.log`)]
    : [join('/var/log/libvirt/qemu', `${name}.log`)];
}

/** Why a domain we never pause is paused: qemu's KVM fault from its log, or the state libvirt gives. */
async function pauseReason(uri: string, name: string, state: string): Promise<string> {
  for (const path of qemuLogPaths(uri, name)) {
    const log = await readFile(path, 'utf8').catch(() => '');
    const fault = KVM_FAULT_PATTERN.exec(log.slice(-65_536));
    if (fault) return log.slice(-65_536).slice(fault.index).split('\n').slice(0, 2).join(' / ').trim();
  }
  return `the domain paused by itself (${state.trim()}), as qemu does when KVM cannot run the guest`;
}

export async function bootLibvirtVm(spec: VmSpec & { readonly uri: string }): Promise<RunningVm> {
  const overlay = await createOverlay(spec.image, spec.format, spec.workDir);
  const seed = await writeNoCloudSeed(spec);
  const accel = spec.accelerator;
  const sshPort = await freePort();
  const serialLog = join(spec.workDir, 'serial.log');
  const name = `relengotron-${spec.instanceId}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const xmlFile = join(spec.workDir, 'domain.xml');
  await writeFile(xmlFile, domainXml({ name, type: accel === 'kvm' ? 'kvm' : 'qemu', memoryMb: spec.memoryMb, cpus: spec.cpus, overlay, seed, serialLog, sshPort }));
  await writeFile(join(spec.workDir, LIBVIRT_DOMAIN_FILE), `${spec.uri}\n${name}\n`);
  try {
    await virsh(spec.uri, ['create', xmlFile]);
  } catch (err) {
    const reason = (err as Error).message.split('\n').filter((l) => /^error:/.test(l)).slice(1).join(' ') || (err as Error).message;
    throw new VmStartError(`libvirt (${spec.uri}) could not start ${name}: ${reason}`);
  }
  let destroyed = false;
  let reportFault: (fault: string) => void = () => undefined;
  const acceleratorFault = new Promise<string>((resolve) => (reportFault = resolve));
  const exited = new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      if (destroyed) {
        clearInterval(timer);
        return resolve(null);
      }
      virsh(spec.uri, ['domstate', '--reason', name], 10_000).then(
        (state) => {
          if (/shut off|crashed|paused \((ioerror|shutting down|post-copy failed)\)/.test(state)) {
            // Stopped, or paused for a reason no wait will cure (a full disk: ioerror).
            clearInterval(timer);
            resolve(null);
          } else if (/paused \((unknown|crashed|panicked)\)/.test(state) && accel === 'kvm') {
            // Nothing of ours pauses a test domain: under KVM, qemu does on an internal error (libvirt: "unknown").
            void pauseReason(spec.uri, name, state).then(reportFault);
          }
        },
        () => {
          // A transient domain that stopped is gone altogether.
          clearInterval(timer);
          resolve(null);
        },
      );
    }, 2000);
  });
  return {
    sshPort,
    accelerator: accel,
    backend: 'libvirt',
    exited,
    acceleratorFault,
    consoleTail: (lines) => consoleTail(serialLog, lines),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await destroyLibvirtDomain(spec.uri, name);
    },
  };
}
