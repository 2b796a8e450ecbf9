/**
 * One image, one Tunir plan, one throwaway VM: fetch the image (verified, cached), boot it, run
 * the plan's steps over SSH, keep every command's output and exit code, and always tear the VM
 * down. A test that ran and failed is a result; a VM that would not boot or answer, a broken
 * download or a lost host is an infrastructure fault (retried, maybe on another worker) and never
 * a verdict on the image.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ImageProvider } from '../common/compose-testing.js';
import { commandPassed, parseTunirPlan, summarizePlan, TunirPlanError, type CommandOutcome, type PlanSummary, type TunirStep } from '../common/tunir.js';
import type { ImageCache} from './image-cache.js';
import { ChecksumMismatchError, ImageNotServedError, ImageUnusableError, type BootDisk, type DownloadProgress } from './image-cache.js';
import { HostAccelerator, type QemuAccelerator } from './accelerator.js';
import { bootLibvirtVm, destroyLibvirtDomain, LIBVIRT_DOMAIN_FILE } from './libvirt.js';
import { bootVm, type VmSpec } from './qemu.js';
import { runOverSsh, waitForSsh, type SshTarget } from './ssh.js';
import { bootVirtualBoxVm } from './virtualbox.js';
import { VmStartError, type Accelerator, type RunningVm, type VmBackendKind } from './vm.js';

const run = promisify(execFile);

export const VM_UNAVAILABLE = 'VmUnavailable';
export const TEST_PLAN_INVALID = 'TestPlanInvalid';
export const IMAGE_CHECKSUM_MISMATCH = 'ImageChecksumMismatch';
export const IMAGE_NOT_SERVED = 'ImageNotServed';
export const IMAGE_UNUSABLE = 'ImageUnusable';
export const HOST_DISK_FULL = 'HostDiskFull';

/** How a plan runs, whatever the image. */
export interface PlanRunSettings {
  /** Tunir plan text: one command per line, `@@`, `##`, `SLEEP n`, `POLL`. */
  readonly plan: string;
  readonly user: string;
  readonly memoryMb: number;
  readonly commandTimeoutMs: number;
  /** How long the first boot may take until SSH answers. */
  readonly bootTimeoutMs: number;
  /** POLL: attempts × interval (Tunir: 30 × 10 s). */
  readonly pollAttempts: number;
  readonly pollIntervalMs: number;
}

export interface RunImageTestInput extends PlanRunSettings {
  /** Names the VM (instance-id) and the work directory. */
  readonly jobId: string;
  /** A verified local copy of the image. */
  readonly image: string;
  readonly format: 'qcow2' | 'raw';
}

export interface RunImageTestResult {
  readonly accelerator: Accelerator;
  /** Set when the VM first started under KVM, KVM failed and it was restarted under TCG: KVM's words. */
  readonly acceleratorFallback?: string;
  readonly backend: VmBackendKind;
  readonly bootMs: number;
  readonly outcomes: readonly CommandOutcome[];
  readonly summary: PlanSummary;
}

export interface ImageUnderTest {
  readonly url: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly fileName: string;
  /** productmd image type: qcow2, raw-xz, vagrant-libvirt, vagrant-virtualbox. */
  readonly type: string;
}

export interface TestImageInput extends PlanRunSettings {
  readonly jobId: number;
  readonly image: ImageUnderTest;
  readonly provider: ImageProvider;
  /** A download that receives nothing for this long is given up (and retried). */
  readonly downloadTimeoutMs: number;
}

export interface TestImageResult extends RunImageTestResult {
  readonly host: string;
  readonly attempt: number;
  readonly download: { readonly bytes: number; readonly fromCache: boolean; readonly resumedFrom: number; readonly transferred: number };
}

/** Sent to the job's workflow when an attempt starts on a host, so the run shows where it is. */
export interface HostReport {
  readonly host: string;
  readonly attempt: number;
}

/** How an `image-libvirt` host starts VMs: qemu directly (as Tunir's vm jobs), or through libvirtd. */
export type VmBackend = { readonly kind: 'qemu' } | { readonly kind: 'libvirt'; readonly uri: string };

export interface ImageTestDeps {
  /** VM scratch space; one directory per job, removed at teardown (and swept at start). */
  readonly workRoot: string;
  /** Default: qemu directly. */
  readonly vmBackend?: VmBackend;
  readonly cache: ImageCache;
  /** How this host names itself in job records. */
  readonly host?: string;
  /** Tells the job's workflow that an attempt started here; failures are logged, never fatal. */
  readonly reportAttempt?: (workflowId: string, report: HostReport) => Promise<void>;
  /** The host's accelerator (probed once, moved to TCG on a KVM fault). Default: qemu-system-x86_64, KVM probed. */
  readonly accelerator?: HostAccelerator;
}

export interface ImageTestActivities {
  /** The job: fetch, unpack, boot on this host's provider, run the plan. */
  testImage(input: TestImageInput): Promise<TestImageResult>;
  /** A plan on an image already on this host (used by tests and `relengotron vm try`). */
  runImageTest(input: RunImageTestInput): Promise<RunImageTestResult>;
}

function planSteps(text: string): TunirStep[] {
  try {
    return parseTunirPlan(text);
  } catch (err) {
    if (err instanceof TunirPlanError) throw ApplicationFailure.nonRetryable(`test plan: ${err.message}`, TEST_PLAN_INVALID);
    throw err;
  }
}

/** Heartbeats with the latest details every few seconds, so a long command never looks like a dead host. */
function heartbeater(context: Context) {
  let details: unknown = { step: 'starting' };
  context.heartbeat(details);
  const timer = setInterval(() => context.heartbeat(details), 5000);
  return {
    beat(next: unknown) {
      details = next;
      context.heartbeat(details);
    },
    stop: () => clearInterval(timer),
  };
}

type Heartbeat = ReturnType<typeof heartbeater>;

function bootWith(backend: VmBackend = { kind: 'qemu' }, spec: VmSpec): Promise<RunningVm> {
  return backend.kind === 'libvirt' ? bootLibvirtVm({ ...spec, uri: backend.uri }) : bootVm(spec);
}
type Boot = (workDir: string, publicKey: string, accelerator: QemuAccelerator) => Promise<RunningVm>;

/** An abort signal of our own that also fires when the activity's does: ends a wait we stop caring about. */
function childSignal(parent: AbortSignal): { readonly signal: AbortSignal; readonly done: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  parent.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, done: () => (parent.removeEventListener('abort', abort), controller.abort()) };
}

type BootOutcome = { readonly kind: 'up' } | { readonly kind: 'timeout' } | { readonly kind: 'exited' } | { readonly kind: 'fault'; readonly fault: string };

/** Waits until SSH answers, the VM stops, KVM stops it, or the boot timeout (wall clock) passes. */
async function awaitSsh(vm: RunningVm, target: SshTarget, timeoutMs: number, signal: AbortSignal): Promise<BootOutcome> {
  const wait = childSignal(signal);
  try {
    return await Promise.race<BootOutcome>([
      waitForSsh(target, timeoutMs, 2000, wait.signal).then((up) => (up ? { kind: 'up' } : { kind: 'timeout' })),
      vm.exited.then(() => ({ kind: 'exited' })),
      vm.acceleratorFault.then((fault) => ({ kind: 'fault', fault })),
    ]);
  } finally {
    wait.done();
  }
}

/** KVM stopped a VM mid-test: the host checks its KVM again, and the attempt is retried. */
async function kvmFailed(accelerator: HostAccelerator, fault: string, where: string): Promise<ApplicationFailure> {
  const { hostMoved } = await accelerator.faultSeen(fault);
  const next = hostMoved ? 'KVM failed the probe again, so this host uses TCG from now on' : 'the KVM probe still passes, so only this guest is at fault';
  return ApplicationFailure.retryable(`KVM stopped the VM ${where}: ${fault}. ${next}.`, VM_UNAVAILABLE);
}

/** The workDir carries the worker's pid so a later worker can sweep what a killed one left. */
async function makeWorkDir(workRoot: string, jobId: string): Promise<string> {
  await mkdir(workRoot, { recursive: true });
  const dir = await mkdtemp(join(workRoot, `${jobId.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

/** Removes job directories whose worker process is gone (killed mid-test), and their libvirt domains. */
export async function sweepAbandonedWorkDirs(workRoot: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(workRoot).catch(() => [] as string[])) {
    const dir = join(workRoot, entry);
    const pid = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = Number.isInteger(pid) && pid > 0;
    } catch {
      alive = false;
    }
    if (!alive) {
      const domain = await readFile(join(dir, 'vm', LIBVIRT_DOMAIN_FILE), 'utf8').catch(() => null);
      if (domain) {
        const [uri, name] = domain.trim().split('\n');
        if (uri && name) await destroyLibvirtDomain(uri, name);
      }
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

interface PlanContext {
  readonly steps: readonly TunirStep[];
  readonly settings: PlanRunSettings;
  readonly jobId: string;
  readonly workRoot: string;
  readonly boot: Boot;
  readonly heartbeat: Heartbeat;
  /** The host's qemu accelerator; null where VMs are not qemu's (VirtualBox). */
  readonly accelerator: HostAccelerator | null;
}

async function runPlanInVm({ steps, settings, jobId, workRoot, boot, heartbeat, accelerator }: PlanContext): Promise<RunImageTestResult> {
  const context = Context.current();
  const signal = context.cancellationSignal;
  const workDir = await makeWorkDir(workRoot, jobId);
  const keyFile = join(workDir, 'id_ed25519');
  let vm: RunningVm | null = null;
  try {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `relengotron-${jobId}`, '-f', keyFile]);
    const publicKey = await readFile(`${keyFile}.pub`, 'utf8');
    let acceleratorFallback: string | undefined;
    let bootMs = 0;
    // At most twice: a VM that KVM stops is started again under TCG, with a boot timeout of its own.
    for (;;) {
      // The VM that KVM stopped restarts under TCG whatever the host does next.
      const accel: QemuAccelerator = acceleratorFallback || !accelerator ? 'tcg' : (await accelerator.current()).accelerator;
      const bootStart = Date.now();
      heartbeat.beat({ step: 'booting', accelerator: accel, ...(acceleratorFallback ? { acceleratorFallback } : {}) });
      try {
        vm = await boot(join(workDir, 'vm'), publicKey, accel);
      } catch (err) {
        if (err instanceof VmStartError) throw ApplicationFailure.retryable(err.message, VM_UNAVAILABLE);
        throw err;
      }
      heartbeat.beat({ step: 'waiting for SSH', accelerator: vm.accelerator });
      const target: SshTarget = { host: '127.0.0.1', port: vm.sshPort, user: settings.user, keyFile };
      const outcome = await awaitSsh(vm, target, settings.bootTimeoutMs, signal);
      if (signal.aborted) await context.cancelled;
      if (outcome.kind === 'up') {
        bootMs = Date.now() - bootStart;
        break;
      }
      if (outcome.kind === 'fault' && vm.accelerator === 'kvm' && accelerator && !acceleratorFallback) {
        acceleratorFallback = outcome.fault;
        await vm.destroy();
        vm = null;
        const { hostMoved } = await accelerator.faultSeen(outcome.fault);
        context.log.warn(hostMoved ? 'KVM stopped the VM and failed the probe again: this host uses TCG from now on' : 'KVM stopped this VM but still runs the probe: this VM only restarts under TCG', { fault: outcome.fault });
        continue;
      }
      const what =
        outcome.kind === 'fault' ? `the hypervisor stopped the VM (${outcome.fault})`
        : outcome.kind === 'exited' ? 'the VM stopped before SSH answered'
        : `the VM did not answer on SSH within ${settings.bootTimeoutMs} ms (waited ${Date.now() - bootStart} ms)`;
      throw ApplicationFailure.retryable(`${what} (${vm.accelerator}); console:\n${await vm.consoleTail()}`, VM_UNAVAILABLE);
    }
    const running: RunningVm = vm;
    const target: SshTarget = { host: '127.0.0.1', port: running.sshPort, user: settings.user, keyFile };
    // A KVM fault later on (a reboot, say) would make SSH fail: that is the host's fault, never a result.
    let fault: string | null = null;
    void running.acceleratorFault.then((f) => (fault = f));
    const faultCheck = async (where: string) => {
      if (fault !== null && accelerator) throw await kvmFailed(accelerator, fault, where);
    };
    const outcomes: CommandOutcome[] = [];
    for (const step of steps) {
      // Cancelled (the run was, or a newer compose won): leave through CancelledFailure.
      if (signal.aborted) await context.cancelled;
      heartbeat.beat({ step: `line ${step.line}`, kind: step.kind, done: outcomes.length, total: steps.length });
      if (step.kind === 'sleep') {
        await context.sleep(step.seconds * 1000);
        continue;
      }
      if (step.kind === 'poll') {
        // After a reboot the old sshd may still answer for a moment: give it time to go.
        await context.sleep(Math.min(settings.pollIntervalMs, 5000));
        const back = await waitForSsh(target, settings.pollAttempts * settings.pollIntervalMs, settings.pollIntervalMs, signal);
        if (signal.aborted) await context.cancelled;
        await faultCheck(`at POLL, line ${step.line}`);
        if (!back) {
          throw ApplicationFailure.retryable(`POLL at line ${step.line}: the VM did not come back; console:\n${await running.consoleTail()}`, VM_UNAVAILABLE);
        }
        continue;
      }
      const started = Date.now();
      const result = await runOverSsh(target, step.command, settings.commandTimeoutMs, signal);
      if (signal.aborted) await context.cancelled;
      await faultCheck(`at line ${step.line}`);
      const outcome: CommandOutcome = {
        line: step.line,
        command: step.command,
        gating: step.gating,
        expect: step.expect,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        output: result.output,
        durationMs: Date.now() - started,
        passed: commandPassed(step, result.exitCode, result.timedOut),
      };
      outcomes.push(outcome);
      if (step.gating && !outcome.passed) break;
    }
    return { accelerator: running.accelerator, backend: running.backend, bootMs, outcomes, summary: summarizePlan(outcomes), ...(acceleratorFallback ? { acceleratorFallback } : {}) };
  } finally {
    await vm?.destroy();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Kept per command in the run's history and the store; the tail is what explains a failure. */
const MAX_OUTPUT_IN_RESULT = 64 * 1024;

function trimOutputs(outcomes: readonly CommandOutcome[]): CommandOutcome[] {
  return outcomes.map((o) =>
    o.output.length <= MAX_OUTPUT_IN_RESULT ? o : { ...o, output: `[${o.output.length - MAX_OUTPUT_IN_RESULT} earlier characters cut]\n${o.output.slice(-MAX_OUTPUT_IN_RESULT)}` },
  );
}

/** Download and unpack faults as Temporal failures: what a retry can fix is retryable. */
function asFetchFailure(err: unknown): unknown {
  if (err instanceof ChecksumMismatchError) return ApplicationFailure.retryable(err.message, IMAGE_CHECKSUM_MISMATCH);
  if (err instanceof ImageNotServedError) return ApplicationFailure.nonRetryable(err.message, IMAGE_NOT_SERVED);
  if (err instanceof ImageUnusableError) return ApplicationFailure.nonRetryable(err.message, IMAGE_UNUSABLE);
  if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
    return ApplicationFailure.retryable(`no space left for the image on ${hostname()}: ${(err as Error).message}`, HOST_DISK_FULL);
  }
  return err;
}

export function createImageTestActivities(deps: ImageTestDeps): ImageTestActivities {
  const host = deps.host ?? `${hostname()}/${process.pid}`;
  const accelerator = deps.accelerator ?? new HostAccelerator({ qemu: 'qemu-system-x86_64', mode: 'auto' });
  return {
    async testImage(input: TestImageInput): Promise<TestImageResult> {
      const steps = planSteps(input.plan);
      const context = Context.current();
      const { attempt, workflowExecution } = context.info;
      if (workflowExecution && deps.reportAttempt) {
        await deps.reportAttempt(workflowExecution.workflowId, { host, attempt }).catch((err: Error) => {
          context.log.warn('could not report the attempt to the workflow', { error: err.message });
        });
      }
      // A worker killed mid-test left its VM directory behind (its qemu died with it).
      await sweepAbandonedWorkDirs(deps.workRoot);
      const heartbeat = heartbeater(context);
      // The image stays this job's until it ends: no eviction takes it from under the VM.
      const release = await deps.cache.use(input.image.sha256).catch(() => () => Promise.resolve());
      try {
        let fetched;
        let disk: BootDisk;
        try {
          fetched = await deps.cache.fetch(input.image, {
            signal: context.cancellationSignal,
            timeoutMs: input.downloadTimeoutMs,
            onProgress: (progress: DownloadProgress) => heartbeat.beat(progress),
          });
          heartbeat.beat({ step: 'unpacking', type: input.image.type });
          disk = await deps.cache.bootDisk(fetched, input.image.type);
          const evicted = await deps.cache.evict().catch(() => [] as string[]);
          if (evicted.length > 0) context.log.info('image cache over its budget: evicted the least recently used', { evicted });
        } catch (err) {
          if (context.cancellationSignal.aborted) await context.cancelled;
          throw asFetchFailure(err);
        }
        const vmName = `relengotron-job-${input.jobId}-a${attempt}`;
        const boot: Boot = (workDir, publicKey, accel) => {
          const seed = { workDir, hostname: 'relengotron-test', instanceId: vmName, publicKey, memoryMb: input.memoryMb, cpus: 1 };
          if (input.provider === 'vbox') {
            if (disk.kind !== 'ovf') throw ApplicationFailure.nonRetryable(`a ${input.image.type} image is not a VirtualBox appliance`, IMAGE_UNUSABLE);
            return bootVirtualBoxVm({ ...seed, ovf: disk.path, name: vmName });
          }
          if (disk.kind !== 'disk') throw ApplicationFailure.nonRetryable(`a ${input.image.type} image needs VirtualBox, not qemu`, IMAGE_UNUSABLE);
          return bootWith(deps.vmBackend, { ...seed, image: disk.path, format: disk.format, accelerator: accel, qemu: accelerator.qemu });
        };
        const result = await runPlanInVm({ steps, settings: input, jobId: `job-${input.jobId}`, workRoot: deps.workRoot, boot, heartbeat, accelerator: input.provider === 'vbox' ? null : accelerator });
        const download = { bytes: fetched.bytes, fromCache: fetched.fromCache, resumedFrom: fetched.resumedFrom, transferred: fetched.transferred };
        return { ...result, outcomes: trimOutputs(result.outcomes), host, attempt, download };
      } finally {
        heartbeat.stop();
        await release();
      }
    },

    async runImageTest(input: RunImageTestInput): Promise<RunImageTestResult> {
      const steps = planSteps(input.plan);
      const heartbeat = heartbeater(Context.current());
      try {
        const boot: Boot = (workDir, publicKey, accel) =>
          bootWith(deps.vmBackend, { image: input.image, format: input.format, workDir, hostname: 'relengotron-test', instanceId: input.jobId, publicKey, memoryMb: input.memoryMb, cpus: 1, accelerator: accel, qemu: accelerator.qemu });
        return await runPlanInVm({ steps, settings: input, jobId: input.jobId, workRoot: deps.workRoot, boot, heartbeat, accelerator });
      } finally {
        heartbeat.stop();
      }
    },
  };
}
