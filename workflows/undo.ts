/**
 * Compensation shared by the sagas (a push, a release branch): each undo step guarded on its own,
 * so one that fails is recorded and the next still runs, and the run ends with the original
 * failure carrying the report of what was undone and what could not be.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { CompensationReport } from './api/push.js';
import { failureText } from '../common/failure-text.js';

export class UndoLog {
  readonly undone: string[] = [];
  readonly notUndone: string[] = [];

  /** Runs one undo step; a failure is recorded as what could not be undone, never thrown. */
  async step(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.notUndone.push(`${what}: ${failureText(err)}`);
    }
  }

  report(failure: string): CompensationReport {
    return { failure, undone: [...this.undone], notUndone: [...this.notUndone] };
  }
}

/** The failure a compensated run ends with: the original's type and words, the report in its details. */
export function compensatedFailure(err: unknown, report: CompensationReport, fallbackType: string): ApplicationFailure {
  const type = err instanceof ApplicationFailure && err.type ? err.type : fallbackType;
  const summary = report.notUndone.length > 0 ? ` (compensated; ${report.notUndone.length} change(s) could NOT be undone: ${report.notUndone.join('; ')})` : ' (compensated)';
  return ApplicationFailure.create({ message: `${report.failure}${summary}`, type, nonRetryable: true, details: [report], cause: err instanceof Error ? err : undefined });
}
