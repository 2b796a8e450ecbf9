/**
 * Tunir's test plans (../shared/docs/fedora-apis.md §2), one command per line, with its
 * semantics: a plain line gates (a non-zero exit fails the job and stops it), `@@ cmd` must fail
 * (e.g. `@@ sudo reboot`, whose SSH session dies), `## cmd` is recorded but never fails the job,
 * `SLEEP <s>` waits, `POLL` waits until SSH answers again. Pure: parsed by config and activities.
 */
export type TunirStep =
  | { readonly kind: 'command'; readonly command: string; readonly expect: 'success' | 'failure'; readonly gating: boolean; readonly line: number }
  | { readonly kind: 'sleep'; readonly seconds: number; readonly line: number }
  | { readonly kind: 'poll'; readonly line: number };

export class TunirPlanError extends Error {
  override name = 'TunirPlanError';
}

const UNSUPPORTED = /^(HOSTCOMMAND:|HOSTTEST:|PLAYBOOK\s)/;

export function parseTunirPlan(text: string): TunirStep[] {
  const steps: TunirStep[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (!trimmed) return;
    if (UNSUPPORTED.test(trimmed)) throw new TunirPlanError(`line ${line}: ${trimmed.split(/[:\s]/)[0]} is not supported (commands run in the VM only)`);
    const sleep = /^SLEEP\s+(\d+)$/.exec(trimmed);
    if (sleep) return void steps.push({ kind: 'sleep', seconds: Number(sleep[1]), line });
    if (/^SLEEP\b/.test(trimmed)) throw new TunirPlanError(`line ${line}: SLEEP takes whole seconds: ${JSON.stringify(trimmed)}`);
    if (trimmed === 'POLL') return void steps.push({ kind: 'poll', line });
    if (trimmed.startsWith('@@')) return void steps.push({ kind: 'command', command: requireCommand(trimmed.slice(2), line), expect: 'failure', gating: true, line });
    if (trimmed.startsWith('##')) return void steps.push({ kind: 'command', command: requireCommand(trimmed.slice(2), line), expect: 'success', gating: false, line });
    steps.push({ kind: 'command', command: trimmed, expect: 'success', gating: true, line });
  });
  if (!steps.some((s) => s.kind === 'command')) throw new TunirPlanError('the plan has no command');
  return steps;
}

function requireCommand(rest: string, line: number): string {
  const command = rest.trim();
  if (!command) throw new TunirPlanError(`line ${line}: a command must follow the marker`);
  return command;
}

export interface CommandOutcome {
  readonly line: number;
  readonly command: string;
  readonly gating: boolean;
  readonly expect: 'success' | 'failure';
  /** null: the command did not end (timeout) or SSH failed before it ran. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly output: string;
  readonly durationMs: number;
  readonly passed: boolean;
}

/** Did a command do what the plan expected? A timeout never passes, not even `@@`. */
export function commandPassed(step: { expect: 'success' | 'failure' }, exitCode: number | null, timedOut: boolean): boolean {
  if (timedOut || exitCode === null) return false;
  return step.expect === 'success' ? exitCode === 0 : exitCode !== 0;
}

export interface PlanSummary {
  readonly passed: boolean;
  readonly nonGating: { readonly total: number; readonly passed: number; readonly failed: number };
  /** The gating command that failed the job, if one did. */
  readonly failedAt: CommandOutcome | null;
}

export function summarizePlan(outcomes: readonly CommandOutcome[]): PlanSummary {
  const nonGating = outcomes.filter((o) => !o.gating);
  const failedAt = outcomes.find((o) => o.gating && !o.passed) ?? null;
  return {
    passed: failedAt === null,
    nonGating: { total: nonGating.length, passed: nonGating.filter((o) => o.passed).length, failed: nonGating.filter((o) => !o.passed).length },
    failedAt,
  };
}
