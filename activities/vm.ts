/**
 * What every VM provider gives an image test (qemu directly, VirtualBox): a VM booted with a
 * cloud-init NoCloud seed carrying our SSH key, SSH forwarded to a local port, a console log,
 * and a teardown that always leaves nothing behind.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { storableText } from '../common/storable-text.js';

const run = promisify(execFile);

export type Accelerator = 'kvm' | 'tcg' | 'virtualbox';
/** What started the VM. */
export type VmBackendKind = 'qemu' | 'libvirt' | 'virtualbox';

export interface RunningVm {
  readonly sshPort: number;
  readonly accelerator: Accelerator;
  readonly backend: VmBackendKind;
  /** Ends the VM and deletes everything it wrote. Safe to call twice. */
  destroy(): Promise<void>;
  /** The last lines of the serial console, for error messages. */
  consoleTail(lines?: number): Promise<string>;
  /** Settles when the VM stops by itself (crash, poweroff). */
  readonly exited: Promise<number | null>;
  /** Settles, with the hypervisor's words, when the accelerator stopped the guest (a KVM internal error). */
  readonly acceleratorFault: Promise<string>;
}

/** The VM could not be started: the host's fault, never a verdict on the image. */
export class VmStartError extends Error {
  override name = 'VmStartError';
}

export interface SeedSpec {
  readonly workDir: string;
  readonly hostname: string;
  readonly instanceId: string;
  readonly publicKey: string;
}

/** The NoCloud seed as cloud-init reads it: an ISO 9660 volume labelled cidata. */
export async function writeNoCloudSeed(spec: SeedSpec): Promise<string> {
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

/** The last lines of a serial console log, for error messages: the guest's bytes, made safe to store and show. */
export async function consoleTail(serialLog: string, lines = 20): Promise<string> {
  const text = await readFile(serialLog, 'utf8').catch(() => '');
  return storableText(text.split('\n').slice(-lines).join('\n'), 8192);
}

/** A throwaway qcow2 overlay: the VM writes there, the cached image stays pristine. */
export async function createOverlay(image: string, format: 'qcow2' | 'raw', workDir: string): Promise<string> {
  await mkdir(workDir, { recursive: true });
  const overlay = join(workDir, 'overlay.qcow2');
  try {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image, '-F', format, overlay]);
  } catch (err) {
    throw new VmStartError(`cannot make an overlay on ${image}: ${(err as Error).message}`);
  }
  return overlay;
}
