/**
 * Two-week releases' facts: what the results store says of a stream's composes, the marks and
 * blocks people set (with who and why), the releases made; and the compose's images gathered into
 * a local tree (each checked against the compose's sha256) with a CHECKSUM per directory, ready to
 * be signed and rsynced into the stable directory.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../common/db.js';
import type { HttpLimits } from '../common/http-body.js';
import { checkedName } from '../common/safe-names.js';
import type { TwoWeekBlock, TwoWeekCandidate, TwoWeekMark, TwoWeekRelease } from '../common/two-week.js';
import { ImageCache } from './image-cache.js';
import { checksumFileText, fetchInto } from './push-compose.js';
import { pathInside } from './safe-path.js';

export interface TwoWeekState {
  readonly candidates: readonly TwoWeekCandidate[];
  readonly marks: readonly TwoWeekMark[];
  readonly block: TwoWeekBlock | null;
  readonly lastRelease: TwoWeekRelease | null;
}

/** The newest composes of a compose stream with their compose-test outcome, the stream's marks, block and last release. */
export async function readTwoWeekState(pool: Pool, input: { readonly stream: string; readonly composeStream: string }): Promise<TwoWeekState> {
  const candidates = await pool.query<{ compose_id: string; compose_date: string; respin: number; status: string | null; passed: number; failed: number; errored: number; aborted: number }>(
    `SELECT t.compose_id, to_char(c.compose_date, 'YYYY-MM-DD') AS compose_date, c.respin, t.status, t.passed, t.failed, t.errored, t.aborted
       FROM compose_tests t JOIN composes c ON c.compose_id = t.compose_id
      WHERE t.stream = $1
      ORDER BY c.compose_date DESC, c.respin DESC
      LIMIT 100`,
    [input.composeStream],
  );
  const ids = candidates.rows.map((r) => r.compose_id);
  const marks = await pool.query<{ compose_id: string; verdict: 'good' | 'bad'; reason: string; marked_by: string; marked_at: Date }>(
    'SELECT compose_id, verdict, reason, marked_by, marked_at FROM twoweek_marks WHERE compose_id = ANY($1::text[])',
    [ids],
  );
  const block = await pool.query<{ reason: string; blocked_by: string; blocked_at: Date }>('SELECT reason, blocked_by, blocked_at FROM twoweek_blocks WHERE stream = $1', [input.stream]);
  return {
    candidates: candidates.rows.map((r) => ({ composeId: r.compose_id, composeDate: r.compose_date, respin: r.respin, testStatus: r.status, passed: r.passed, failed: r.failed, errored: r.errored, aborted: r.aborted })),
    marks: marks.rows.map((m) => ({ composeId: m.compose_id, verdict: m.verdict, reason: m.reason, markedBy: m.marked_by, markedAt: m.marked_at.toISOString() })),
    block: block.rows[0] ? { reason: block.rows[0].reason, blockedBy: block.rows[0].blocked_by, blockedAt: block.rows[0].blocked_at.toISOString() } : null,
    lastRelease: await lastTwoWeekRelease(pool, input.stream),
  };
}

export async function lastTwoWeekRelease(pool: Pool, stream: string): Promise<TwoWeekRelease | null> {
  const { rows } = await pool.query<{ compose_id: string; compose_date: string; released_at: Date; workflow_id: string }>(
    `SELECT compose_id, to_char(compose_date, 'YYYY-MM-DD') AS compose_date, released_at, workflow_id FROM twoweek_releases
      WHERE stream = $1 ORDER BY released_at DESC, compose_date DESC LIMIT 1`,
    [stream],
  );
  const r = rows[0];
  return r ? { composeId: r.compose_id, composeDate: r.compose_date, releasedAt: r.released_at.toISOString(), workflowId: r.workflow_id } : null;
}

/** Marks a compose good or bad (a later mark replaces an earlier one). */
export async function markCompose(pool: Pool, mark: { readonly composeId: string; readonly verdict: 'good' | 'bad'; readonly reason: string; readonly by: string }): Promise<void> {
  await pool.query(
    `INSERT INTO twoweek_marks (compose_id, verdict, reason, marked_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (compose_id) DO UPDATE SET verdict = EXCLUDED.verdict, reason = EXCLUDED.reason, marked_by = EXCLUDED.marked_by, marked_at = now()`,
    [mark.composeId, mark.verdict, mark.reason, mark.by],
  );
}

/** Blocks a stream (`reason` set) or unblocks it (null); returns whether anything changed. */
export async function setTwoWeekBlock(pool: Pool, stream: string, block: { readonly reason: string; readonly by: string } | null): Promise<boolean> {
  if (block === null) return ((await pool.query('DELETE FROM twoweek_blocks WHERE stream = $1', [stream])).rowCount ?? 0) > 0;
  await pool.query(
    `INSERT INTO twoweek_blocks (stream, reason, blocked_by) VALUES ($1, $2, $3)
     ON CONFLICT (stream) DO UPDATE SET reason = EXCLUDED.reason, blocked_by = EXCLUDED.blocked_by, blocked_at = now()`,
    [stream, block.reason, block.by],
  );
  return true;
}

export interface TwoWeekImage {
  /** Compose-relative: `Cloud/x86_64/images/Fedora-Cloud-Base-28-20261120.0.x86_64.qcow2`. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly arch: string;
  readonly type: string;
}

export interface GatheredCompose {
  /** The local tree rsynced into the stable directory (the compose's `compose/` layout). */
  readonly dir: string;
  readonly images: readonly TwoWeekImage[];
  /** Compose-relative paths of the CHECKSUM files, one per images directory. */
  readonly checksumFiles: readonly string[];
}

export interface TwoWeekActivities {
  readTwoWeekState(input: { readonly stream: string; readonly composeStream: string }): Promise<TwoWeekState>;
  /** Records a release (idempotent: a retry finds its row). */
  recordTwoWeekRelease(input: { readonly stream: string; readonly composeId: string; readonly composeDate: string; readonly workflowId: string; readonly commits: Readonly<Record<string, string>> }): Promise<void>;
  /** The compose's images (from the results store's copy of images.json) downloaded, checked and laid out with a CHECKSUM per directory. */
  gatherComposeForRelease(input: { readonly composeId: string }): Promise<GatheredCompose>;
}

export function createTwoWeekActivities(deps: { readonly pool: Pool; readonly workDir: string; readonly downloadDir: string; readonly http: HttpLimits }): TwoWeekActivities {
  const downloads = new ImageCache(deps.downloadDir);
  return {
    readTwoWeekState: (input) => readTwoWeekState(deps.pool, input),

    async recordTwoWeekRelease(input) {
      await deps.pool.query(
        `INSERT INTO twoweek_releases (stream, compose_id, compose_date, workflow_id, commits) VALUES ($1, $2, $3::date, $4, $5)
         ON CONFLICT (stream, compose_id) DO UPDATE SET workflow_id = EXCLUDED.workflow_id, commits = EXCLUDED.commits, released_at = now()`,
        [input.stream, input.composeId, input.composeDate, input.workflowId, JSON.stringify(input.commits)],
      );
    },

    async gatherComposeForRelease(input) {
      const context = Context.current();
      checkedName('compose ID', input.composeId, 'the compose to release');
      const compose = await deps.pool.query<{ location: string }>('SELECT location FROM composes WHERE compose_id = $1', [input.composeId]);
      if (!compose.rows[0]) throw ApplicationFailure.nonRetryable(`the results store knows no compose ${input.composeId}`, 'TwoWeekComposeUnknown');
      const location = compose.rows[0].location.replace(/\/+$/, '');
      const { rows } = await deps.pool.query<{ path: string; sha256: string | null; size_bytes: string; arch: string; image_type: string }>(
        'SELECT path, sha256, size_bytes, arch, image_type FROM compose_images WHERE compose_id = $1 ORDER BY path',
        [input.composeId],
      );
      if (rows.length === 0) throw ApplicationFailure.nonRetryable(`${input.composeId} has no images to release`, 'TwoWeekComposeEmpty');
      const dir = pathInside(deps.workDir, `twoweek/${input.composeId}/compose`, 'the release tree');
      const images: TwoWeekImage[] = [];
      const byDir = new Map<string, { name: string; size: number; sha256: string }[]>();
      for (const [i, row] of rows.entries()) {
        if (!row.sha256) throw ApplicationFailure.nonRetryable(`${input.composeId}: images.json gives no sha256 for ${row.path}, so it cannot be checked`, 'TwoWeekComposeUnchecked');
        // The path is the compose's metadata: outside data, kept inside the release tree.
        const target = pathInside(dir, row.path, `the image path ${row.path.slice(0, 200)}`);
        const name = row.path.slice(row.path.lastIndexOf('/') + 1);
        const size = Number(row.size_bytes);
        await fetchInto(downloads, { url: `${location}/${row.path}`, sha256: row.sha256, sizeBytes: size, fileName: name }, target, {
          http: deps.http, server: 'the compose server', notServedType: 'TwoWeekImageNotServed', diskDir: deps.workDir,
        });
        context.heartbeat({ images: i + 1, of: rows.length });
        images.push({ path: row.path, sha256: row.sha256, size, arch: row.arch, type: row.image_type });
        const imageDir = dirname(row.path);
        byDir.set(imageDir, [...(byDir.get(imageDir) ?? []), { name, size, sha256: row.sha256 }]);
      }
      const checksumFiles: string[] = [];
      for (const [imageDir, files] of byDir) {
        const path = pathInside(dir, `${imageDir}/CHECKSUM`, 'a CHECKSUM file');
        const text = checksumFileText(files);
        // A CHECKSUM already signed over the same text is kept: signing skips it.
        if (!(existsSync(path) && readFileSync(path, 'utf8').includes(text.trim()))) {
          writeFileSync(`${path}.tmp`, text);
          renameSync(`${path}.tmp`, path);
        }
        checksumFiles.push(`${imageDir}/CHECKSUM`);
      }
      return { dir, images, checksumFiles };
    },
  };
}
