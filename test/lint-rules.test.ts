/**
 * The lint rules that keep workflow code deterministic must fire: a rule that never fires (as the
 * activity-import pattern once did under nodenext's `.js` specifiers) guards nothing.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The project's own config, type-aware rules off (the probe file exists only in memory). */
const eslint = new ESLint({ cwd: ROOT, overrideConfig: [tseslint.configs.disableTypeChecked] });

async function restrictedImports(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => `${m.line}: ${m.message}`);
}

describe('lint rules for workflow code', () => {
  it('refuses a value import of activities, in any spelling of the path, and allows type-only imports', async () => {
    const code = [
      "import { createRelengActivities } from '../activities/index.js';",
      "import { KojiClient } from '../../activities/koji.js';",
      "import type { RelengActivities } from '../activities/index.js';",
      "import { type PushBatch } from '../../activities/bodhi.js';",
      'export type Used = RelengActivities | PushBatch;',
      'export const used = [createRelengActivities, KojiClient];',
    ].join('\n');
    const found = await restrictedImports(code, 'workflows/push/probe.ts');
    assert.equal(found.length, 2, found.join('\n'));
    assert.match(found[0]!, /^1: .*Import activities as types only/);
    assert.match(found[1]!, /^2: .*Import activities as types only/);
  });

  it("refuses Node built-ins and I/O clients in workflows, and not outside them", async () => {
    const code = "import { readFileSync } from 'node:fs';\nimport pg from 'pg';\nexport const used = [readFileSync, pg];\n";
    assert.equal((await restrictedImports(code, 'workflows/probe.ts')).length, 2);
    assert.deepEqual(await restrictedImports(code, 'activities/probe.ts'), []);
  });
});
