/**
 * Saved workflow histories for replay tests, append-only: each lives under the code version that
 * recorded it (`<package version>-<hash of the workflow sources>`, or `git-<commit>` for those
 * recorded before this scheme), and a saved file is never written again. A workflow change must
 * replay all of them or be guarded by patched() (README, "Changing a workflow").
 *
 * `RECORD_HISTORIES=1 npm test` records every history the tests save into the current code
 * version's directory; `RECORD_HISTORIES=name,name` only those named.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = fileURLToPath(new URL('../../../test/histories/', import.meta.url));
const PACKAGE_VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

/**
 * The code version histories recorded now are filed under: the package's version and a hash of
 * the workflow sources and the common modules they import (the webpack bundle itself differs
 * from build to build).
 */
export function codeVersion(): string {
  const root = `${HISTORIES_DIR}../../`;
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'common']) {
    const files = readdirSync(`${root}${dir}`, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).sort();
    for (const file of files) hash.update(`${dir}/${file}\0`).update(readFileSync(`${root}${dir}/${file}`)).update('\0');
  }
  return `${PACKAGE_VERSION}-${hash.digest('hex').slice(0, 12)}`;
}

/** Every saved history: `<code version>/<name>.json`. */
export function savedHistories(): string[] {
  return readdirSync(HISTORIES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(`${HISTORIES_DIR}${d.name}`).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`))
    .sort();
}

function recording(name: string): boolean {
  const wanted = process.env['RECORD_HISTORIES'];
  return wanted === '1' || (wanted ?? '').split(',').includes(name);
}

export async function saveHistoryIfRecording(name: string, handle: WorkflowHandle): Promise<void> {
  if (!recording(name)) return;
  const dir = `${HISTORIES_DIR}${codeVersion()}/`;
  const file = `${dir}${name}.json`;
  // Append-only: the same code version recorded it already; a changed workflow gets a new directory.
  if (existsSync(file)) throw new Error(`${file} exists: saved histories are never rewritten`);
  const history = await handle.fetchHistory();
  mkdirSync(dir, { recursive: true });
  // The same JSON form as `temporal workflow show --output json`.
  writeFileSync(file, `${historyToJSON(history)}\n`);
}
