/**
 * Determinism guard: histories saved from real runs (test/histories/<code version>/) must replay
 * against the current workflow code. A failure here means a change would break runs already in
 * flight: guard it with patched() (workflows/patches.ts), never by rewriting a history.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { HISTORIES_DIR, savedHistories } from './helpers/histories.js';
import { workflowBundle } from './helpers/temporal.js';

const load = (file: string) => historyFromJSON(JSON.parse(readFileSync(`${HISTORIES_DIR}${file}`, 'utf8')));

describe('replay of saved histories', () => {
  const files = savedHistories();

  it('has histories to replay, among them runs paused at an operator gate and in an activity retry', () => {
    assert.ok(files.length >= 15, `expected saved histories in ${HISTORIES_DIR}`);
    for (const name of ['push-waiting-for-operator', 'push-reminding-after-retry', 'discover-compose-retrying']) {
      assert.ok(files.some((f) => f.endsWith(`/${name}.json`)), `no ${name} history`);
    }
  });

  for (const file of files) {
    it(`replays ${file} without nondeterminism`, async () => {
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, load(file), file.replace(/\.json$/, ''));
    });
  }

  it('catches a changed command sequence: a reordered gateBuild fails to replay a saved gate', async () => {
    const history = load(files.find((f) => f.endsWith('/gate-build-passed.json'))!);
    const changed = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./fixtures/changed-workflows/index.js', import.meta.url)), logger: new DefaultLogger('WARN') });
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: changed }, history, 'changed'), (err: unknown) => {
      assert.ok(err instanceof DeterminismViolationError, String(err));
      assert.match(err.message, /nondetermin/i);
      return true;
    });
  });

  it('never rewrites a saved history (git: no file under a code version directory was ever modified)', (t) => {
    let modified: string;
    try {
      modified = execFileSync('git', ['log', '--no-renames', '--diff-filter=M', '--name-only', '--format=', '--', ':(glob)test/histories/*/*.json'], { cwd: `${HISTORIES_DIR}../..`, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      t.skip('not a git checkout');
      return;
    }
    assert.equal(modified.trim(), '', `saved histories were rewritten:\n${modified}`);
  });
});
