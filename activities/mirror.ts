/**
 * Release sync into the master mirror tree: rsync with --delay-updates (new files appear only at
 * the end, all at once) into a directory named for the push, then `latest` swapped to it with one
 * rename. A sync killed midway leaves the tree `latest` points to untouched and served; the next
 * attempt reuses what the killed one copied and completes.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { checkedName, nameProblem, UNSAFE_PATH } from '../common/safe-names.js';
import { pathInside } from './safe-path.js';

export interface SyncTreeInput {
  /** The composed, signed tree. */
  readonly source: string;
  /** The mirror's directory for this artifact stream, e.g. /pub/fedora/linux/updates/43/IoT. */
  readonly mirrorRoot: string;
  /** The new tree's name under mirrorRoot (the push's ID). */
  readonly name: string;
  /** The symlink clients follow; swapped last. */
  readonly latest: string;
  /** Optional rsync --bwlimit (KiB/s), to spare a shared uplink. */
  readonly bandwidthLimitKiBs?: number;
}

export interface SyncTreeResult {
  readonly dest: string;
  readonly previous: string | null;
  readonly latest: string;
}

export class SyncError extends Error {
  override name = 'SyncError';
}

/** The failure type when the mirror's layout is not what the sync made: no retry changes it, a person must look. */
export const MIRROR_LAYOUT_UNEXPECTED = 'MirrorLayoutUnexpected';

/** Where `latest` points, or null when there is none; refuses a `latest` that is not a symlink. */
export function publishedTree(link: string): string | null {
  let stat;
  try {
    stat = lstatSync(link);
  } catch {
    return null;
  }
  if (!stat.isSymbolicLink()) {
    throw ApplicationFailure.nonRetryable(`${link} is not a symlink (put there by hand?): what is published cannot be told, so nothing is replaced or removed`, MIRROR_LAYOUT_UNEXPECTED);
  }
  return readlinkSync(link);
}

export function rsyncArgs(input: SyncTreeInput): string[] {
  return [
    '-rlptDH', '--delay-updates', '--delete-after', '--partial-dir=.rsync-partial', '--stats',
    ...(input.bandwidthLimitKiBs ? [`--bwlimit=${input.bandwidthLimitKiBs}`] : []),
    `${input.source.replace(/\/+$/, '')}/`,
    `${join(input.mirrorRoot, input.name)}/`,
  ];
}

/** Runs rsync; `onProgress` hears from it while it works (for heartbeats); `signal` stops it. */
export async function syncTree(input: SyncTreeInput, options: { signal?: AbortSignal; onProgress?: () => void } = {}): Promise<SyncTreeResult> {
  if (!existsSync(input.source)) throw new SyncError(`nothing to sync: ${input.source} does not exist`);
  if (nameProblem('file name', input.name) || nameProblem('file name', input.latest)) throw new SyncError(`name and latest must be plain directory names: ${nameProblem('file name', input.name) ?? nameProblem('file name', input.latest)}`);
  const link = join(input.mirrorRoot, input.latest);
  // Checked first: a layout the sync did not make is refused before anything is written.
  const previous = publishedTree(link);
  await mkdir(join(input.mirrorRoot, input.name), { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const child = spawn('rsync', rsyncArgs(input), { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let stderr = '';
    child.stdout.on('data', () => options.onProgress?.());
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new SyncError(`rsync: ${err.message}`)));
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new SyncError(`rsync into ${input.mirrorRoot}/${input.name} ended ${signal ?? `with exit ${code}`}: ${stderr.trim().split('\n').slice(-2).join(' ')}`))));
  });
  // A new link beside the old, renamed over it: clients see the old tree or the new, never none.
  const next = join(input.mirrorRoot, `.${input.latest}.${process.pid}.next`);
  await rm(next, { force: true });
  await symlink(input.name, next);
  await rename(next, link);
  return { dest: join(input.mirrorRoot, input.name), previous, latest: link };
}

/**
 * Each top-level directory of the published tree also at `<root>/<dir>`, a symlink through
 * `latest` (`Everything/x86_64 -> latest/x86_64`): Fedora's paths, swapped with `latest` at once.
 * A name there that is not such a link was put there by someone else and is refused, untouched.
 */
async function exposeThroughLatest(root: string, latest: string): Promise<string[]> {
  const exposed: string[] = [];
  for (const entry of await readdir(join(root, latest), { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === latest || entry.name.startsWith('.')) continue;
    const link = join(root, entry.name);
    const target = `${latest}/${entry.name}`;
    let current: string | null;
    try {
      current = publishedTree(link);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`${link} is not the link to ${target} the sync makes: ${(err as Error).message}`, MIRROR_LAYOUT_UNEXPECTED);
    }
    if (current !== target) {
      if (current !== null) throw ApplicationFailure.nonRetryable(`${link} points at ${current}, not ${target}: left alone`, MIRROR_LAYOUT_UNEXPECTED);
      const next = join(root, `.${entry.name}.${process.pid}.next`);
      await rm(next, { force: true });
      await symlink(target, next);
      await rename(next, link);
    }
    exposed.push(entry.name);
  }
  return exposed;
}

export interface MirrorActivities {
  /**
   * rsync into `<mirrorRoot>/<path>/<name>`, then `latest` swapped; heartbeats while rsync works.
   * With `exposeTopLevel`, the tree's top-level directories are also at `<path>/<dir>` through `latest`.
   */
  syncToMirror(input: { readonly source: string; readonly path: string; readonly name: string; readonly exposeTopLevel?: boolean }): Promise<SyncTreeResult>;
  /** Compensation: removes `<path>/<name>` unless `latest` points at it (then it is published and stays). */
  removeUnpublishedTree(input: { readonly path: string; readonly name: string }): Promise<{ readonly removed: boolean }>;
}

export function createMirrorActivities(deps: { readonly mirrorRoot: string }): MirrorActivities {
  return {
    async syncToMirror(input) {
      const context = Context.current();
      // The path and name come from Bodhi's release and the push: checked, and resolved inside the mirror root.
      const root = pathInside(deps.mirrorRoot, input.path, 'the mirror path');
      checkedName('file name', input.name, 'the mirror tree name');
      if (input.name === 'latest') throw ApplicationFailure.nonRetryable('a tree may not be called "latest": that is the link to the published tree', UNSAFE_PATH);
      const timer = setInterval(() => context.heartbeat({ syncing: input.name }), 5000);
      try {
        const synced = await syncTree(
          { source: input.source, mirrorRoot: root, name: input.name, latest: 'latest' },
          { signal: context.cancellationSignal, onProgress: () => context.heartbeat({ syncing: input.name }) },
        );
        if (input.exposeTopLevel) await exposeThroughLatest(root, 'latest');
        return synced;
      } finally {
        clearInterval(timer);
      }
    },

    async removeUnpublishedTree(input) {
      checkedName('file name', input.name, 'the mirror tree to remove');
      if (input.name === 'latest') throw ApplicationFailure.nonRetryable('"latest" is the link to the published tree, never removed as a tree', UNSAFE_PATH);
      const root = pathInside(deps.mirrorRoot, input.path, 'the mirror path to remove from');
      if (publishedTree(join(root, 'latest')) === input.name) return { removed: false };
      const tree = join(root, input.name);
      if (!existsSync(tree)) return { removed: false };
      await rm(tree, { recursive: true, force: true });
      return { removed: true };
    },
  };
}

/**
 * Moves a tree to another root the safe way (EOL's archive): rsync with `--delay-updates` into the
 * destination, a checksum comparison that must find no difference, and only then the source
 * removed. Run again after a crash it finishes the job; a source already gone with the
 * destination in place is done. Paths are relative to their roots and may not climb out.
 */
export async function moveTree(from: { readonly root: string; readonly path: string }, to: { readonly root: string; readonly path: string }, signal?: AbortSignal): Promise<{ readonly moved: boolean }> {
  const source = pathInside(from.root, from.path, 'the tree to move');
  const dest = pathInside(to.root, to.path, 'where the tree moves to');
  if (!existsSync(source)) {
    if (existsSync(dest)) return { moved: false };
    throw new SyncError(`neither ${source} nor ${dest} exists`);
  }
  await mkdir(dest, { recursive: true });
  const rsync = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn('rsync', args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new SyncError(`rsync: ${e.message}`)));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new SyncError(`rsync ${args[0]} ended with exit ${code}: ${err.trim().split('\n').slice(-2).join(' ')}`))));
    });
  await rsync(['-rlptDH', '--delay-updates', '--partial-dir=.rsync-partial', `${source}/`, `${dest}/`]);
  // Verified by content: a dry run with checksums must have nothing left to change.
  const differences = (await rsync(['-rlptDHnc', '--delete', '--itemize-changes', `${source}/`, `${dest}/`])).trim();
  if (differences) throw new SyncError(`the copy of ${source} in ${dest} differs, the source is kept: ${differences.split('\n').slice(0, 3).join('; ')}`);
  await rm(source, { recursive: true, force: true });
  return { moved: true };
}
