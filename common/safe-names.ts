/**
 * The grammar of every identifier from outside that ends up in a filesystem path (release
 * versions, Koji tags, compose IDs, push IDs, NVRs, OSTree refs, metadata paths). Pure, so
 * workflows check a value the moment it arrives; activities/safe-path.ts then resolves the path
 * inside its root. A value that breaks its grammar is refused with `UNSAFE_PATH`, non-retryable:
 * no retry makes `../../x` a release version.
 */
import { ApplicationFailure } from '@temporalio/common';

export const UNSAFE_PATH = 'UnsafePath';

/** One path segment: starts with a letter, digit, `_` or `+`; no `..` anywhere, no `/`, no NUL. `^` and `~` are in Fedora's versions (`1.0^20240101git`). */
const SEGMENT = /^[A-Za-z0-9_+][A-Za-z0-9._+~^-]*$/;

export const NAME_GRAMMARS = {
  /** Bodhi's release.version: `29`, `rawhide`, `eln`, `9.4`. */
  'release version': { pattern: /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/, max: 32 },
  /** Koji's tag names: `f29-updates-testing`, `epel9-next`. */
  'Koji tag': { pattern: SEGMENT, max: 128 },
  /** Pungi's compose IDs: `Fedora-29-updates-20261123.0`. */
  'compose ID': { pattern: SEGMENT, max: 128 },
  /** A push's ID: `20261123T120000Z`. */
  'push ID': { pattern: SEGMENT, max: 64 },
  /** name-version-release, as Koji names a build. */
  NVR: { pattern: SEGMENT, max: 255 },
  /** An arch: `x86_64`, `aarch64`, `noarch`. */
  arch: { pattern: /^[a-z0-9_]+$/, max: 32 },
  /** A plain file or directory name. */
  'file name': { pattern: SEGMENT, max: 255 },
} as const satisfies Record<string, { pattern: RegExp; max: number }>;

export type NameKind = keyof typeof NAME_GRAMMARS;

/** Why `value` is not a `kind`, or null when it is one. */
export function nameProblem(kind: NameKind, value: unknown): string | null {
  const { pattern, max } = NAME_GRAMMARS[kind];
  if (typeof value !== 'string') return `a ${kind} must be a string, got ${typeof value}`;
  if (value.length === 0) return `a ${kind} may not be empty`;
  if (value.length > max) return `a ${kind} has at most ${max} characters, this one ${value.length}`;
  if (value.includes('..')) return `${JSON.stringify(value)} is not a ${kind}: it contains ".."`;
  if (!pattern.test(value)) return `${JSON.stringify(value)} is not a ${kind} (${pattern.source})`;
  return null;
}

/** `value` when it is a `kind`; otherwise the refusal, naming where the value came from. */
export function checkedName(kind: NameKind, value: string, from: string): string {
  const problem = nameProblem(kind, value);
  if (problem) throw ApplicationFailure.nonRetryable(`${from}: ${problem}; nothing is written or removed for it`, UNSAFE_PATH);
  return value;
}

/** Why a relative path (`updates/29/Everything`, `Packages/e/earlyoom-1.3-2.fc29.x86_64.rpm`) is unsafe, or null. */
export function relativePathProblem(path: unknown, max = 1024): string | null {
  if (typeof path !== 'string') return `a path must be a string, got ${typeof path}`;
  if (path.length === 0 || path.length > max) return `a path has 1 to ${max} characters, this one ${path.length}`;
  const bad = path.split('/').find((segment) => !SEGMENT.test(segment) || segment.includes('..'));
  if (bad !== undefined) return `${JSON.stringify(path.slice(0, 200))} is not a relative path of plain names (segment ${JSON.stringify(bad.slice(0, 80))})`;
  return null;
}

/** `path` when it is a relative path of plain names; otherwise the refusal. */
export function checkedRelativePath(path: string, from: string): string {
  const problem = relativePathProblem(path);
  if (problem) throw ApplicationFailure.nonRetryable(`${from}: ${problem}; nothing is written or removed for it`, UNSAFE_PATH);
  return path;
}

/** OSTree's ref grammar (ostree_validate_rev), with no `..` segment: `fedora/29/x86_64/updates/iot`. */
export function ostreeRefProblem(ref: unknown): string | null {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 255) return 'an OSTree ref has 1 to 255 characters';
  if (!/^[\w\d][-._\w\d]*(?:\/[\w\d][-._\w\d]*)*$/.test(ref) || ref.split('/').includes('..')) return `${JSON.stringify(ref.slice(0, 120))} is not an OSTree ref`;
  return null;
}
