/**
 * When a gated build may go on: as Greenwave decides, required testcases must have a passing
 * result (PASSED or INFO); a failing one (FAILED, NEEDS_INSPECTION) fails the gate; anything else
 * (missing, ERROR, QUEUED, RUNNING) keeps it waiting, because an infrastructure fault is not the
 * build's fault and a re-run may still come. Pure, so the workflow and the tests share it.
 */
export type GateOutcome = 'passed' | 'failed' | 'info' | 'needs_inspection' | 'not_applicable' | 'error' | 'queued' | 'running';

export interface GateResult {
  readonly testcase: string;
  readonly outcome: GateOutcome;
  readonly url: string | null;
  /** The message it came in; the newest result per testcase counts. */
  readonly msgId: string;
}

export interface GreenwaveVerdict {
  readonly satisfied: boolean;
  readonly summary: string;
  /** True when an unsatisfied requirement is a failed result, not a missing one. */
  readonly anyFailed: boolean;
}

export type GateVerdict =
  | { readonly state: 'passed'; readonly reason: string }
  | { readonly state: 'failed'; readonly reason: string }
  | { readonly state: 'waiting'; readonly reason: string };

const PASSING: readonly GateOutcome[] = ['passed', 'info'];
const FAILING: readonly GateOutcome[] = ['failed', 'needs_inspection'];

export function evaluateGate(
  requiredTests: readonly string[],
  results: ReadonlyMap<string, GateResult>,
  greenwave: GreenwaveVerdict | null,
): GateVerdict {
  if (greenwave) {
    if (greenwave.satisfied) return { state: 'passed', reason: `Greenwave: ${greenwave.summary}` };
    if (greenwave.anyFailed) return { state: 'failed', reason: `Greenwave: ${greenwave.summary}` };
    return { state: 'waiting', reason: `Greenwave: ${greenwave.summary}` };
  }
  if (requiredTests.length === 0) return { state: 'passed', reason: 'no tests are required in this lane' };
  const failed = requiredTests.filter((t) => FAILING.includes(results.get(t)?.outcome ?? 'queued'));
  if (failed.length > 0) {
    return { state: 'failed', reason: `required test${failed.length > 1 ? 's' : ''} failed: ${failed.map((t) => `${t} (${results.get(t)!.outcome})`).join(', ')}` };
  }
  const pending = requiredTests.filter((t) => !PASSING.includes(results.get(t)?.outcome ?? 'queued'));
  if (pending.length > 0) {
    return { state: 'waiting', reason: `waiting for ${pending.map((t) => `${t} (${results.get(t)?.outcome ?? 'no result'})`).join(', ')}` };
  }
  return { state: 'passed', reason: `all ${requiredTests.length} required test${requiredTests.length > 1 ? 's' : ''} passed` };
}
