/**
 * The one way a path built from outside data is made: its relative part checked against the
 * grammar of plain names (common/safe-names.ts), joined to its root, and the result resolved
 * (through every symlink that already exists) to a place inside the root. A mirror tree, a push
 * compose, a fetched repository or an archive is written or removed only at a path from here.
 */
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { relativePathProblem, UNSAFE_PATH } from '../common/safe-names.js';

/** The deepest part of `path` that exists, resolved through its symlinks, with the rest appended. */
function resolvedThroughLinks(path: string): string {
  let existing = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A symlink loop or a directory we may not read cannot be shown to stay inside: refused, not retried.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw ApplicationFailure.nonRetryable(`${path} cannot be resolved (${code ?? (err as Error).message}); nothing is written or removed for it`, UNSAFE_PATH);
      const parent = dirname(existing);
      if (parent === existing) return path;
      rest.push(existing.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      existing = parent;
    }
  }
}

/** True when `path` is `root` or below it. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * `<root>/<relativePath>` (`''`: the root), refused (UNSAFE_PATH, non-retryable) unless every segment is a plain
 * name and the path, symlinks followed, stays inside the root. `from` says where the value came
 * from, for the refusal.
 */
export function pathInside(root: string, relativePath: string, from: string): string {
  // '' is the root itself.
  const problem = relativePath === '' ? null : relativePathProblem(relativePath);
  if (problem) throw ApplicationFailure.nonRetryable(`${from}: ${problem}; nothing is written or removed for it`, UNSAFE_PATH);
  const realRoot = resolvedThroughLinks(resolve(root));
  const candidate = resolve(root, relativePath);
  if (!isInside(realRoot, resolvedThroughLinks(candidate))) {
    throw ApplicationFailure.nonRetryable(`${from}: ${relativePath} leads outside ${root} (through a symlink); nothing is written or removed for it`, UNSAFE_PATH);
  }
  return candidate;
}
