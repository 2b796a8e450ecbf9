/**
 * Determinism guard: histories saved from real runs (test/histories) must replay against the
 * current workflow code. A failure here means a change would break runs already in flight;
 * use patched() or record new histories on purpose (RECORD_HISTORIES=1 npm test).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './helpers/histories.js';
import { workflowBundle } from './helpers/temporal.js';

describe('replay of saved histories', () => {
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

  it('has histories to replay', () => {
    assert.ok(files.length >= 2, `expected saved histories in ${HISTORIES_DIR}`);
  });

  for (const file of files) {
    it(`replays ${file} without nondeterminism`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(`${HISTORIES_DIR}${file}`, 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file.replace(/\.json$/, ''));
    });
  }
});
