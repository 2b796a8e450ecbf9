/**
 * Which accelerator this image host's VMs run under, decided by running guest code, not by
 * opening /dev/kvm: a /dev/kvm can open, create a VM and still stop every guest at its first
 * emulated instruction ("KVM internal error. Suberror: 1 ... emulation failure"). The probe boots
 * a boot sector (activities/kvm-probe.S) that makes a boot loader's mode switches and prints a
 * marker on the serial port; only a probe that prints it within the bound makes the host use KVM.
 * A KVM fault seen later, in a real job, moves the whole host to TCG for the rest of its life.
 */
import { spawnTied } from '../common/tied-process.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type QemuAccelerator = 'kvm' | 'tcg';

/** How an image host picks its accelerator: probe KVM and use it when it works, or never use it. */
export type KvmMode = 'auto' | 'off';

export interface AcceleratorChoice {
  readonly accelerator: QemuAccelerator;
  /** Why: the probe's verdict, a fault seen in a job, or the configuration. */
  readonly reason: string;
}

/** What qemu prints when KVM cannot run the guest; qemu then pauses the VM (runstate internal-error). */
export const KVM_FAULT_PATTERN = /KVM internal error|emulation failure|KVM: entry failed|kvm run failed/i;

/** The assembled activities/kvm-probe.S (scripts/kvm-probe-bytes.sh prints it). */
export const KVM_PROBE_BOOT_SECTOR = Buffer.from(
  '+jHAjtiOwI7QvAB8sFLobAAPARawfA8gwAwBDyLAZuomfAAACABmuBAAjtiOwI7QvAB8AAAPAR2+fQAAzSCwUGa6+APu6kx8AAAYALggAI7YjsCO0A8gwCT+DyLA6mJ8AAAxwI7YjtCwcugQAL7EfayEwHQF6AUA6/b06/26+APuw8+NtAAAkAAAAAAAAAAA//8AAACazwD//wAAAJLPAP//AAAAmgAA//8AAACSAAAnAIh8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgnwIAACOAAAHAbZ8AAByZWxlbmdvdHJvbi1rdm0tcHJvYmUtb2sKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAVao=',
  'base64',
);

/** The marker: real mode, protected mode with an iret, back to real mode, then the word. */
const PROBE_DONE = /RPrrelengotron-kvm-probe-ok/;

export interface KvmProbeResult {
  readonly usable: boolean;
  readonly reason: string;
  readonly elapsedMs: number;
}

/** The first line of what qemu said that explains a failure, without its register dump. */
function firstLines(text: string, max = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^warning:|: warning: /.test(l))
    .slice(0, max)
    .join(' / ');
}

/** Boots the probe guest under KVM and waits (at most timeoutMs) for its marker. Never throws. */
export function probeKvm(qemu: string, timeoutMs = 10_000): Promise<KvmProbeResult> {
  return probeGuest(qemu, 'kvm', timeoutMs);
}

/**
 * Boots the probe guest under an accelerator and waits (at most timeoutMs) for its marker. Never
 * throws: every way it can go wrong is a reason not to use that accelerator.
 */
export async function probeGuest(qemu: string, accel: QemuAccelerator, timeoutMs: number): Promise<KvmProbeResult> {
  const started = Date.now();
  const name = accel.toUpperCase();
  const dir = await mkdtemp(join(tmpdir(), 'relengotron-kvm-probe-'));
  const disk = join(dir, 'probe.img');
  await writeFile(disk, KVM_PROBE_BOOT_SECTOR);
  const args = [
    '-accel', accel, '-machine', 'pc', '-m', '16', '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none',
    '-serial', 'stdio', '-drive', `file=${disk},format=raw,if=ide,snapshot=on`,
  ];
  try {
    return await new Promise<KvmProbeResult>((resolve) => {
      // Dies with this process, whatever happens to it mid-probe.
      const child = spawnTied(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] }, 'KILL');
      let serial = '';
      let stderr = '';
      let settled = false;
      const finish = (usable: boolean, reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        resolve({ usable, reason, elapsedMs: Date.now() - started });
      };
      const timer = setTimeout(() => {
        const progress = serial.length ? `it printed ${JSON.stringify(serial.slice(0, 40))} and stopped` : 'it printed nothing';
        finish(false, `the ${name} probe guest did not finish within ${timeoutMs} ms (${progress})`);
      }, timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        serial += chunk.toString('latin1');
        if (PROBE_DONE.test(serial)) finish(true, `the ${name} probe guest ran to its end in ${Date.now() - started} ms`);
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        const fault = KVM_FAULT_PATTERN.exec(stderr);
        if (fault) finish(false, `${name} stopped the probe guest: ${firstLines(stderr.slice(fault.index), 2)}`);
      });
      child.on('error', (err) => finish(false, `cannot run ${qemu}: ${err.message}`));
      // 'close' comes after the last output chunk, which holds qemu's reason.
      child.on('close', (code, signal) => finish(false, `${qemu} -accel ${accel} exited (${signal ?? code}) before the probe guest finished: ${firstLines(stderr) || 'no message'}`));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface HostAcceleratorOptions {
  readonly qemu: string;
  readonly mode: KvmMode;
  readonly probeTimeoutMs?: number;
  /** Told once for the probe's verdict and once for every fallback. */
  readonly onChange?: (choice: AcceleratorChoice) => void;
}

/**
 * The host's accelerator, held by its image worker: probed once, on first use, and moved to TCG
 * for good when a job's VM hits a KVM fault. Every VM the host starts asks it.
 */
export class HostAccelerator {
  private choice: Promise<AcceleratorChoice> | null = null;
  private abandoned: AcceleratorChoice | null = null;
  /** KVM faults seen in jobs (each moved the host, or found it moved already). */
  fallbacks = 0;

  constructor(private readonly options: HostAcceleratorOptions) {}

  get qemu(): string {
    return this.options.qemu;
  }

  /** The accelerator for the next VM. */
  async current(): Promise<AcceleratorChoice> {
    if (this.abandoned) return this.abandoned;
    this.choice ??= this.decide();
    return this.abandoned ?? (await this.choice);
  }

  private async decide(): Promise<AcceleratorChoice> {
    const choice: AcceleratorChoice =
      this.options.mode === 'off'
        ? { accelerator: 'tcg', reason: 'KVM is turned off (workers.kvm: off)' }
        : await probeKvm(this.options.qemu, this.options.probeTimeoutMs).then((p) => ({ accelerator: p.usable ? 'kvm' : 'tcg', reason: p.reason }));
    this.options.onChange?.(choice);
    return choice;
  }

  /**
   * A job's VM hit a KVM fault. KVM itself may have broken, or the guest may have provoked it (a
   * hostile image can): the probe guest runs again, and only if it fails too does this host move
   * to TCG for good. Either way the VM that faulted restarts under TCG.
   */
  async faultSeen(fault: string): Promise<{ readonly hostMoved: boolean; readonly choice: AcceleratorChoice }> {
    this.fallbacks++;
    if (this.abandoned) return { hostMoved: true, choice: this.abandoned };
    const again = await probeKvm(this.options.qemu, this.options.probeTimeoutMs);
    if (again.usable) return { hostMoved: false, choice: await this.current() };
    this.abandoned = { accelerator: 'tcg', reason: `KVM failed in a job and the probe failed again, so this host uses TCG from now on: ${fault}` };
    this.options.onChange?.(this.abandoned);
    return { hostMoved: true, choice: this.abandoned };
  }
}
