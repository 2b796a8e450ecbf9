/** Reading runs back: what `relengotron runs` prints. */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { operatorDecisionUpdate, waitingForQuery, type DecisionOutcome, type OperatorDecision, type Waiting } from '../workflows/api/index.js';

export interface RunSummary {
  readonly workflowId: string;
  readonly runId: string;
  readonly type: string;
  readonly status: string;
  readonly triggerMsgId: string | null;
  readonly stage: string | null;
  readonly startTime: string;
  readonly closeTime: string | null;
}

export function summarize(info: Omit<WorkflowExecutionInfo, 'raw'>): RunSummary {
  const attrs = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    triggerMsgId: attrs.get(SEARCH_ATTRIBUTES.triggerMsgId) ?? null,
    stage: attrs.get(SEARCH_ATTRIBUTES.stage) ?? null,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString() ?? null,
  };
}

export async function listRuns(client: Client, query?: string, limit = 1000): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const info of client.workflow.list(query ? { query } : {})) {
    runs.push(summarize(info));
    if (runs.length >= limit) break;
  }
  return runs;
}

export function formatTable(runs: readonly RunSummary[]): string {
  const header = ['WORKFLOW ID', 'TYPE', 'STATUS', 'STAGE', 'TRIGGER', 'STARTED'];
  const rows = runs.map((r) => [r.workflowId, r.type, r.status, r.stage ?? '', r.triggerMsgId ?? '', r.startTime.replace('T', ' ').slice(0, 19)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** A decision's answer from the run: accepted (with the steps it answers) or refused (with why and what the run waits for). */
export type DecisionReply =
  | { readonly accepted: true; readonly workflowId: string; readonly outcome: DecisionOutcome }
  | { readonly accepted: false; readonly workflowId: string; readonly reason: string; readonly waitingFor: readonly Waiting[] | null };

/** Sends an operator decision as the run's `operatorDecision` update and waits for its verdict. */
export async function decideRun(client: Client, workflowId: string, decision: OperatorDecision): Promise<DecisionReply> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const outcome = await handle.executeUpdate(operatorDecisionUpdate, { args: [decision] });
    return { accepted: true, workflowId, outcome };
  } catch (err) {
    const refusal = refusalText(err);
    if (refusal === null) throw err;
    // Temporal answers "not found" for a run that has ended as for one that never was: say which.
    const ended = refusal === 'no running run' ? await handle.describe().then((d) => d.status.name, () => null) : null;
    const reason = refusal !== 'no running run' ? refusal : ended ? `the run has ended (${ended})` : 'no such run';
    return { accepted: false, workflowId, reason, waitingFor: ended ? null : await waitingFor(client, workflowId) };
  }
}

/** What the run says it waits for; null when it cannot say (closed, or a workflow without the query). */
export async function waitingFor(client: Client, workflowId: string): Promise<readonly Waiting[] | null> {
  return client.workflow.getHandle(workflowId).query(waitingForQuery).catch(() => null);
}

/** The run's own words for refusing an update, or null for a failure that is not a refusal. */
function refusalText(err: unknown): string | null {
  if (err instanceof WorkflowUpdateFailedError) {
    const message = err.cause?.message ?? err.message;
    return /no registered handler for update/i.test(message) ? 'this run takes no operator decisions' : message;
  }
  if (err instanceof WorkflowNotFoundError || (err instanceof Error && /workflow execution already completed/i.test(err.message))) return 'no running run';
  return null;
}

export function formatDecisionReply(reply: DecisionReply, action: string): string {
  if (reply.accepted) return `${action} accepted by ${reply.workflowId}: it answers ${reply.outcome.steps.map((s) => `"${s}"`).join(', ')}`;
  const waits = reply.waitingFor === null ? '' : `\nwaiting for: ${reply.waitingFor.length === 0 ? 'nothing' : reply.waitingFor.map((w) => w.for).join('; ')}`;
  return `${action} refused by ${reply.workflowId}: ${reply.reason}${waits}`;
}
