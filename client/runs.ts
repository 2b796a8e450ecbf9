/** Reading runs back: what `relengotron runs` prints. */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';

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
