/**
 * Saved workflow histories for replay tests. `RECORD_HISTORIES=1 npm test` rewrites them from
 * real runs; commit the result when a workflow's code changed on purpose.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = fileURLToPath(new URL('../../../test/histories/', import.meta.url));

export async function saveHistoryIfRecording(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env['RECORD_HISTORIES'] !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // The same JSON form as `temporal workflow show --output json`.
  writeFileSync(`${HISTORIES_DIR}${name}.json`, `${historyToJSON(history)}\n`);
}
