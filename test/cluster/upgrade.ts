/**
 * A new build for a rolling upgrade: the deployed tree (dist/, the migrations, package.json; the
 * same node_modules) copied beside the checkout with one workflow changed, as the next release of
 * releng-o-tron would ship it. deploy/README's upgrade step then restarts each host's units on it.
 */
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A change to one compiled file: `anchor` must occur exactly once; `change` is put after it. */
export interface BuildChange {
  readonly file: string;
  readonly anchor: string;
  readonly change: string;
  /** Lines added at the top of the file (an import the change needs). */
  readonly header?: string;
}

/** Copies the built tree to a directory of its own with `changes` made; returns its root. */
export function buildRelease(name: string, changes: readonly BuildChange[]): string {
  const root = mkdtempSync(join(tmpdir(), `relengotron-${name}-`));
  for (const part of ['dist', 'db', 'package.json']) cpSync(join(ROOT, part), join(root, part), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  for (const { file, anchor, change, header } of changes) {
    const path = join(root, file);
    const source = readFileSync(path, 'utf8');
    const at = source.indexOf(anchor);
    if (at < 0 || source.indexOf(anchor, at + 1) >= 0) throw new Error(`${file}: the anchor ${JSON.stringify(anchor)} must occur exactly once`);
    const end = at + anchor.length;
    writeFileSync(path, `${header ?? ''}${source.slice(0, end)}${change}${source.slice(end)}`);
  }
  return root;
}
