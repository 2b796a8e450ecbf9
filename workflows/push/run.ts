/**
 * The one state object of a push run: its input, what `status` shows, the operator gate its steps
 * wait at, and the log of what it changed (for compensation). Every step takes it.
 */
import { setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PushBatch } from '../../activities/bodhi.js';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes.js';
import { PROJECT_TOPIC } from '../../common/schemas/outgoing.js';
import { pushStatusQuery, type PushStatus } from '../api/push.js';
import { waitingForQuery } from '../api/waiting.js';
import { publishReminder } from '../messages.js';
import { OperatorGate } from '../operator-gate.js';
import type { PushInput } from './input.js';

/** What the batch decided: which builds move from where to where. */
export interface PushPlan {
  readonly batch: PushBatch;
  readonly builds: readonly string[];
  readonly aliases: readonly string[];
  /** Bodhi's composer: stable builds leave the testing tag; testing builds leave the pending tags. */
  readonly fromTag: string;
  readonly toTag: string;
  readonly version: string;
}

/** What this run changed in the world, in order: what compensation undoes. */
export interface PushChanges {
  readonly movedBuilds: string[];
  readonly mirrorTrees: { readonly path: string; readonly name: string }[];
}

export class PushRun {
  readonly workflowId = workflowInfo().workflowId;
  readonly gate: OperatorGate;
  readonly changes: PushChanges = { movedBuilds: [], mirrorTrees: [] };
  status: PushStatus = {
    stage: 'batch', updates: 0, builds: 0, moved: 0, impact: null, compose: null, policy: null, artifacts: [],
    awaitingOperator: [], skipped: [], compensated: [], compensation: null, repository: null,
  };

  constructor(readonly input: PushInput) {
    const decide = `relengotron runs decide ${this.workflowId} retry|skip|abort --reason "..."`;
    this.gate = new OperatorGate({
      reminderEveryMs: input.operatorReminderMs,
      decideCommand: decide,
      situation: () => `at stage ${this.status.stage}`,
      remind: (waiting) => publishReminder({ topic: `${PROJECT_TOPIC}.push.waiting`, body: { ...this.baseMessage, ...waiting, decide } }),
    });
    setHandler(pushStatusQuery, () => ({ ...this.status, awaitingOperator: this.gate.waiting }), {
      description: 'Stage; updates, builds and builds moved; PDC impact with reasons; the push compose and the test policy decision; artifacts; the steps waiting for an operator; what compensation undid.',
    });
    setHandler(waitingForQuery, () => this.gate.waits, { description: 'The failed steps waiting for an operator, with the command that answers.' });
  }

  /** Every message about this push starts with these. */
  get baseMessage(): { push_id: string; release: string; request: 'testing' | 'stable'; workflow_id: string } {
    return { push_id: this.input.pushId, release: this.input.release, request: this.input.request, workflow_id: this.workflowId };
  }

  /** Moves to a stage (or only updates the status) and says what it is doing. */
  enter(next: Partial<PushStatus>, details: string): void {
    this.status = { ...this.status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: this.status.stage }]);
    setCurrentDetails(`**${this.status.stage}**: ${details}`);
  }

  update(next: Partial<PushStatus>): void {
    this.status = { ...this.status, ...next };
  }

  skip(what: string, reason: string): void {
    this.status = { ...this.status, skipped: [...this.status.skipped, `${what}: ${reason}`] };
  }

  /**
   * A step that waits for an operator when it fails past its retries: its value, or null when
   * the operator skipped it (recorded as `as` with the reason and what skipping it means).
   */
  async attempt<T>(step: string, work: () => Promise<T>, skipped: { readonly as?: string; readonly meaning?: string } = {}): Promise<T | null> {
    const outcome = await this.gate.run(step, work);
    if (outcome.kind === 'done') return outcome.value;
    this.skip(skipped.as ?? step, skipped.meaning ? `${outcome.reason}; ${skipped.meaning}` : outcome.reason);
    return null;
  }
}
