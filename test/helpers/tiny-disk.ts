/** A tmpfs of a given size, for full-disk tests (root only; elsewhere the test says it was skipped). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export async function withTinyDisk(t: TestContext, size: string, use: (dir: string) => Promise<void>): Promise<void> {
  const tiny = mkdtempSync(join(tmpdir(), 'relengotron-tiny-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', tiny], { stdio: 'ignore' });
  } catch {
    t.skip('cannot mount a small tmpfs here (needs root)');
    return;
  }
  try {
    await use(tiny);
  } finally {
    execFileSync('umount', [tiny]);
  }
}
