/**
 * Two-week releases, the pure parts: which compose of a stream is released, by the rules Fedora's
 * push-two-week-atomic.py applied by hand (the newest compose whose tests passed, minus composes
 * marked bad, plus composes marked good, nothing while the stream is blocked), and whether the
 * stream is out of date. Workflows decide with these; activities only read and write the facts.
 */

/** A compose of the stream and what its compose-test run found (from the results store). */
export interface TwoWeekCandidate {
  readonly composeId: string;
  /** YYYY-MM-DD, the compose's date. */
  readonly composeDate: string;
  readonly respin: number;
  /** The compose-test run's status: complete, running, error, ... (null: never tested). */
  readonly testStatus: string | null;
  readonly passed: number;
  readonly failed: number;
  readonly errored: number;
  readonly aborted: number;
}

/** A person's word on a compose: released though its tests failed (good), or never released (bad). */
export interface TwoWeekMark {
  readonly composeId: string;
  readonly verdict: 'good' | 'bad';
  readonly reason: string;
  readonly markedBy: string;
  readonly markedAt: string;
}

export interface TwoWeekBlock {
  readonly reason: string;
  readonly blockedBy: string;
  readonly blockedAt: string;
}

export interface TwoWeekRelease {
  readonly composeId: string;
  readonly composeDate: string;
  readonly releasedAt: string;
  readonly workflowId: string;
}

/** How a stream's compose passes: every job passed (Autocloud's `results.failed == 0`), and at least `minPassed` jobs ran. */
export interface TwoWeekPolicy {
  readonly minPassed: number;
}

export interface TwoWeekChoice {
  /** The compose to release, or null. */
  readonly chosen: (TwoWeekCandidate & { readonly why: string }) | null;
  /** Every newer compose passed over, and why: shown in the run. */
  readonly passedOver: readonly { readonly composeId: string; readonly why: string }[];
}

/** Newest first: by date, then respin. */
const newestFirst = (a: TwoWeekCandidate, b: TwoWeekCandidate) => b.composeDate.localeCompare(a.composeDate) || b.respin - a.respin;

/** Why a compose's tests do not pass the policy, or null when they do. */
export function testsFailPolicy(c: TwoWeekCandidate, policy: TwoWeekPolicy): string | null {
  if (c.testStatus === null) return 'never tested';
  if (c.testStatus !== 'complete') return `its compose test is ${c.testStatus}`;
  const bad = c.failed + c.errored + c.aborted;
  if (bad > 0) return `${c.failed} failed, ${c.errored} errored, ${c.aborted} aborted of ${c.passed + bad} jobs`;
  if (c.passed < policy.minPassed) return `${c.passed} jobs passed; the stream needs ${policy.minPassed}`;
  return null;
}

/** The newest eligible compose: tests passed by the policy or marked good, and not marked bad. */
export function chooseCompose(candidates: readonly TwoWeekCandidate[], marks: readonly TwoWeekMark[], policy: TwoWeekPolicy): TwoWeekChoice {
  const markOf = new Map(marks.map((m) => [m.composeId, m]));
  const passedOver: { composeId: string; why: string }[] = [];
  for (const c of [...candidates].sort(newestFirst)) {
    const mark = markOf.get(c.composeId);
    if (mark?.verdict === 'bad') {
      passedOver.push({ composeId: c.composeId, why: `marked bad by ${mark.markedBy}: ${mark.reason}` });
      continue;
    }
    if (mark?.verdict === 'good') return { chosen: { ...c, why: `marked good by ${mark.markedBy}: ${mark.reason}` }, passedOver };
    const failing = testsFailPolicy(c, policy);
    if (failing === null) return { chosen: { ...c, why: `its compose test passed (${c.passed} jobs)` }, passedOver };
    passedOver.push({ composeId: c.composeId, why: failing });
  }
  return { chosen: null, passedOver };
}

/** Whole days from a compose's date to `now`. */
export function ageInDays(composeDate: string, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(`${composeDate}T00:00:00Z`)) / 86_400_000);
}

export type OutOfDateReason = 'blocked' | 'no-passing-compose' | 'too-old';

/** The out-of-date alert's words, or null when the stream is fresh. */
export function outOfDate(input: {
  readonly blocked: TwoWeekBlock | null;
  readonly choice: TwoWeekChoice;
  readonly lastRelease: TwoWeekRelease | null;
  readonly maxAgeDays: number;
  readonly now: Date;
}): { readonly reason: OutOfDateReason; readonly detail: string } | null {
  const { lastRelease } = input;
  const released = lastRelease ? `; the released image set is ${lastRelease.composeId}, ${ageInDays(lastRelease.composeDate, input.now)} days old` : '; nothing was ever released';
  if (input.blocked) return { reason: 'blocked', detail: `the stream is blocked by ${input.blocked.blockedBy} since ${input.blocked.blockedAt}: ${input.blocked.reason}${released}` };
  if (!input.choice.chosen) {
    return { reason: 'no-passing-compose', detail: `no compose passed its tests or was marked good${input.choice.passedOver.length ? ` (${input.choice.passedOver.length} passed over)` : ''}${released}` };
  }
  // After this run the chosen compose is the newest released image set.
  const age = ageInDays(input.choice.chosen.composeDate, input.now);
  if (age > input.maxAgeDays) return { reason: 'too-old', detail: `the newest passing compose ${input.choice.chosen.composeId} is ${age} days old; the limit is ${input.maxAgeDays}` };
  return null;
}
