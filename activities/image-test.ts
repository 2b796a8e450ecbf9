/**
 * One image, one Tunir plan, one throwaway VM: boot, run the plan's steps over SSH, keep every
 * command's output and exit code, and always tear the VM down. A test that ran and failed is a
 * result; a VM that would not boot or answer is an infrastructure fault (retried, maybe on
 * another worker) and never a verdict on the image.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { commandPassed, parseTunirPlan, summarizePlan, TunirPlanError, type CommandOutcome, type PlanSummary } from '../common/tunir.js';
import { bootVm, VmStartError, type Accelerator, type RunningVm } from './qemu.js';
import { runOverSsh, waitForSsh, type SshTarget } from './ssh.js';

const run = promisify(execFile);

export const VM_UNAVAILABLE = 'VmUnavailable';
export const TEST_PLAN_INVALID = 'TestPlanInvalid';

export interface RunImageTestInput {
  /** Names the VM (hostname, instance-id) and the work directory. */
  readonly jobId: string;
  /** A verified local copy of the image. */
  readonly image: string;
  readonly format: 'qcow2' | 'raw';
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

export interface RunImageTestResult {
  readonly accelerator: Accelerator;
  readonly bootMs: number;
  readonly outcomes: readonly CommandOutcome[];
  readonly summary: PlanSummary;
}

export interface ImageTestActivities {
  runImageTest(input: RunImageTestInput): Promise<RunImageTestResult>;
}

export function createImageTestActivities(deps: { readonly workRoot: string }): ImageTestActivities {
  return {
    async runImageTest(input: RunImageTestInput): Promise<RunImageTestResult> {
      let steps;
      try {
        steps = parseTunirPlan(input.plan);
      } catch (err) {
        if (err instanceof TunirPlanError) throw ApplicationFailure.nonRetryable(`test plan: ${err.message}`, TEST_PLAN_INVALID);
        throw err;
      }
      const context = Context.current();
      const signal = context.cancellationSignal;
      const workDir = await mkdtemp(join(deps.workRoot, `${input.jobId.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
      const keyFile = join(workDir, 'id_ed25519');
      let vm: RunningVm | null = null;
      try {
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `relengotron-${input.jobId}`, '-f', keyFile]);
        const publicKey = await readFile(`${keyFile}.pub`, 'utf8');
        const bootStart = Date.now();
        try {
          vm = await bootVm({ image: input.image, format: input.format, workDir: join(workDir, 'vm'), hostname: 'relengotron-test', instanceId: input.jobId, publicKey, memoryMb: input.memoryMb, cpus: 1 });
        } catch (err) {
          if (err instanceof VmStartError) throw ApplicationFailure.retryable(err.message, VM_UNAVAILABLE);
          throw err;
        }
        const target: SshTarget = { host: '127.0.0.1', port: vm.sshPort, user: input.user, keyFile };
        context.heartbeat({ step: 'booting', accelerator: vm.accelerator });
        const booted = await Promise.race([
          waitForSsh(target, Math.ceil(input.bootTimeoutMs / 2000), 2000, signal),
          vm.exited.then(() => false),
        ]);
        if (!booted) {
          throw ApplicationFailure.retryable(
            `the VM did not answer on SSH within ${input.bootTimeoutMs} ms (${vm.accelerator}); console:\n${await vm.consoleTail()}`,
            VM_UNAVAILABLE,
          );
        }
        const bootMs = Date.now() - bootStart;
        const outcomes: CommandOutcome[] = [];
        for (const step of steps) {
          // Cancelled (the run was, or a newer compose won): leave through CancelledFailure.
          if (signal.aborted) await context.cancelled;
          context.heartbeat({ step: step.line, kind: step.kind, done: outcomes.length });
          if (step.kind === 'sleep') {
            await context.sleep(step.seconds * 1000);
            continue;
          }
          if (step.kind === 'poll') {
            // After a reboot the old sshd may still answer for a moment: give it time to go.
            await context.sleep(Math.min(input.pollIntervalMs, 5000));
            if (!(await waitForSsh(target, input.pollAttempts, input.pollIntervalMs, signal))) {
              throw ApplicationFailure.retryable(`POLL at line ${step.line}: the VM did not come back; console:\n${await vm.consoleTail()}`, VM_UNAVAILABLE);
            }
            continue;
          }
          const started = Date.now();
          const result = await runOverSsh(target, step.command, input.commandTimeoutMs, signal);
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
          if (signal.aborted) await context.cancelled;
          outcomes.push(outcome);
          if (step.gating && !outcome.passed) break;
        }
        return { accelerator: vm.accelerator, bootMs, outcomes, summary: summarizePlan(outcomes) };
      } finally {
        await vm?.destroy();
        await rm(workDir, { recursive: true, force: true });
      }
    },
  };
}
