/**
 * The results store in Postgres: what releng-o-tron learned about composes.
 * Plain functions over a pool (the bus listener uses them too) and the activities that wrap them.
 */
import type { Client } from '@temporalio/client';
import type { ComposeTestingConfig } from '../common/config.js';
import {
  composeStream,
  compareComposeIds,
  imageFamily,
  imageFileName,
  imageName,
  selectImages,
  type ComposeTestStatus,
  type FinishedJobStatus,
  type ImageProvider,
} from '../common/compose-testing.js';
import { withTransaction, type Pool } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import { storableText } from '../common/storable-text.js';
import type { CommandOutcome } from '../common/tunir.js';
import { workflowIds } from '../common/workflow-ids.js';
import { supersedeSignal } from '../workflows/api/compose-test.js';
import type { ComposeMetadata } from './compose-server.js';
import type { ImageUnderTest, PlanRunSettings } from './image-test.js';
import { composeStreamStopped } from './release-config.js';

export interface RecordComposeInput {
  readonly metadata: ComposeMetadata;
  readonly location: string;
  readonly pungiStatus: string;
}

export interface ComposeStatusEvent {
  readonly composeId: string;
  readonly status: string;
  readonly location: string;
  readonly msgId: string;
}

/** Idempotent: a retried activity or a re-run rewrites the same rows. */
export async function recordCompose(pool: Pool, input: RecordComposeInput): Promise<void> {
  const { metadata: m } = input;
  await withTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO composes (compose_id, release_short, release_version, compose_type, compose_date, respin, label,
                             location, pungi_status, metadata_version, image_count)
       VALUES ($1, $2, $3, $4, to_date($5, 'YYYYMMDD'), $6, $7, $8, $9, $10, $11)
       ON CONFLICT (compose_id) DO UPDATE SET
         location = EXCLUDED.location, pungi_status = EXCLUDED.pungi_status,
         metadata_version = EXCLUDED.metadata_version, image_count = EXCLUDED.image_count, updated_at = now()`,
      [m.composeId, m.release.short, m.release.version, m.type, m.date, m.respin, m.label, input.location,
        input.pungiStatus, m.metadataVersion, m.images.length],
    );
    await client.query('DELETE FROM compose_images WHERE compose_id = $1', [m.composeId]);
    if (m.images.length > 0) {
      await client.query(
        `INSERT INTO compose_images (compose_id, variant, arch, subvariant, image_type, format, path, size_bytes, sha256)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])`,
        [m.composeId, m.images.map((i) => i.variant), m.images.map((i) => i.arch), m.images.map((i) => i.subvariant),
          m.images.map((i) => i.type), m.images.map((i) => i.format), m.images.map((i) => i.path),
          m.images.map((i) => i.sizeBytes), m.images.map((i) => i.sha256)],
      );
    }
  });
}

export async function recordComposeStatusEvent(pool: Pool, event: ComposeStatusEvent): Promise<void> {
  await pool.query(
    `INSERT INTO compose_status_events (compose_id, status, location, msg_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (compose_id, status) DO NOTHING`,
    [event.composeId, event.status, event.location, event.msgId],
  );
}

/** One image on one provider, as the compose's run hands it to its child. */
export interface ComposeTestJob {
  readonly jobId: number;
  readonly workflowId: string;
  readonly provider: ImageProvider;
  readonly image: ImageUnderTest;
  readonly imageName: string;
  readonly family: string;
  readonly variant: string;
  readonly subvariant: string | null;
  readonly arch: string;
  readonly format: string;
  readonly settings: PlanRunSettings;
}

/** What a compose's test run does, decided once from config and recorded in its history. */
export interface ComposeTestPlan {
  /** Autocloud's compose_job_id. */
  readonly composeJobId: number;
  /** Where the results are shown, for links in messages and the Web UI. */
  readonly dashboardUrl: string;
  readonly stream: string | null;
  readonly release: string;
  readonly compose: { readonly id: string; readonly date: string; readonly respin: number; readonly type: string };
  readonly jobs: readonly ComposeTestJob[];
  /** Selected images that cannot be tested, and why (no sha256 to check them against). */
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
  readonly policy: {
    readonly whenNewerComposeFinishes: ComposeTestingConfig['whenNewerComposeFinishes'];
    readonly hostHeartbeatTimeoutMs: number;
    readonly waitForHostMs: number;
    readonly attempts: number;
    /** Absent in runs planned before it was a setting (2 minutes then). */
    readonly downloadStallTimeoutMs?: number;
  };
}

export interface PlanComposeTestInput {
  readonly metadata: ComposeMetadata;
  readonly location: string;
  readonly workflowId: string;
}

export interface JobAttempt {
  readonly jobId: number;
  readonly host: string;
  readonly attempt: number;
}

export interface JobResult {
  readonly jobId: number;
  readonly status: FinishedJobStatus;
  readonly reason: string | null;
  readonly host?: string;
  readonly accelerator?: string;
  /** KVM's fault when the VM was restarted under TCG. */
  readonly acceleratorFallback?: string;
  readonly backend?: string;
  readonly bootMs?: number;
  readonly outcomes?: readonly CommandOutcome[];
}

export interface ComposeTestCounts {
  readonly passed: number;
  readonly failed: number;
  readonly errored: number;
  readonly aborted: number;
}

export interface FinishComposeTestInput {
  readonly composeId: string;
  /** complete unless the run was superseded or cancelled (aborted). */
  readonly status: Extract<ComposeTestStatus, 'complete' | 'aborted'>;
  readonly reason: string | null;
  readonly supersededBy: string | null;
}

export interface FinishedJob {
  readonly jobId: number;
  readonly arch: string;
  readonly family: string;
  readonly imageUrl: string;
  readonly subvariant: string | null;
  readonly format: string;
  readonly type: string;
  readonly name: string;
  readonly status: string;
}

export interface FinishComposeTestResult extends ComposeTestCounts {
  readonly jobs: readonly FinishedJob[];
}

export interface FailComposeTestInput {
  readonly composeId: string;
  readonly location: string;
  readonly workflowId: string;
  readonly reason: string;
}

export interface SupersedeInput {
  readonly composeId: string;
  readonly stream: string;
}

export async function planComposeTest(pool: Pool, config: ComposeTestingConfig, dashboardUrl: string, input: PlanComposeTestInput): Promise<ComposeTestPlan> {
  const m = input.metadata;
  const stream = composeStream(m.composeId);
  // An end of life stopped this release's compose stream: the compose is recorded, nothing is booted.
  const stopped = await composeStreamStopped(pool, stream);
  const selected = stopped ? [] : selectImages(m.images, config.rules);
  const skipped = [
    ...(stopped ? selectImages(m.images, config.rules).map((s) => ({ path: s.image.path, reason: stopped })) : []),
    ...selected.filter((s) => !s.image.sha256).map((s) => ({ path: s.image.path, reason: 'images.json gives no sha256 to check the download against' })),
  ];
  const testable = selected.filter((s) => s.image.sha256);
  const settingsFor = (type: string): PlanRunSettings => {
    const plan = config.plans[type]!;
    return {
      plan: plan.plan,
      user: plan.user,
      memoryMb: plan.memoryMb,
      commandTimeoutMs: durationToMs(config.commandTimeout),
      bootTimeoutMs: durationToMs(config.bootTimeout),
      pollAttempts: config.pollAttempts,
      pollIntervalMs: durationToMs(config.pollInterval),
    };
  };
  return withTransaction(pool, async (client) => {
    // A run started again by hand starts the compose's record afresh.
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO compose_tests (compose_id, stream, release, location, workflow_id, status)
       VALUES ($1, $2, $3, $4, $5, 'queued')
       ON CONFLICT (compose_id) DO UPDATE SET stream = EXCLUDED.stream, release = EXCLUDED.release, location = EXCLUDED.location,
         workflow_id = EXCLUDED.workflow_id, status = 'queued', passed = 0, failed = 0, errored = 0, aborted = 0, reason = NULL,
         superseded_by = NULL, queued_at = now(), started_at = NULL, finished_at = NULL
       RETURNING id`,
      [m.composeId, stream, m.release.version, input.location, input.workflowId],
    );
    const composeJobId = Number(rows[0]!.id);
    const jobs: ComposeTestJob[] = [];
    for (const { image, provider } of testable) {
      const fileName = imageFileName(image.path);
      const workflowId = workflowIds.imageTest(m.composeId, fileName, provider);
      const job = await client.query<{ job_id: string }>(
        `INSERT INTO test_jobs (compose_id, image_path, image_url, image_name, variant, subvariant, family, arch, image_type, format, provider, workflow_id, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'queued')
         ON CONFLICT (compose_id, image_path, provider) DO UPDATE SET status = 'queued', host = NULL, attempts = 0, accelerator = NULL, vm_backend = NULL,
           boot_ms = NULL, reason = NULL, queued_at = now(), started_at = NULL, finished_at = NULL
         RETURNING job_id`,
        [m.composeId, image.path, image.url, imageName(image.path, image.arch), image.variant, image.subvariant, imageFamily(image.subvariant),
          image.arch, image.type, image.format, provider, workflowId],
      );
      const jobId = Number(job.rows[0]!.job_id);
      await client.query('DELETE FROM test_job_commands WHERE job_id = $1', [jobId]);
      jobs.push({
        jobId,
        workflowId,
        provider,
        image: { url: image.url, sha256: image.sha256!, sizeBytes: image.sizeBytes, fileName, type: image.type },
        imageName: imageName(image.path, image.arch),
        family: imageFamily(image.subvariant),
        variant: image.variant,
        subvariant: image.subvariant,
        arch: image.arch,
        format: image.format,
        settings: settingsFor(image.type),
      });
    }
    return {
      composeJobId,
      dashboardUrl,
      stream,
      release: m.release.version,
      compose: { id: m.composeId, date: m.date, respin: m.respin, type: m.type },
      jobs,
      skipped,
      policy: {
        whenNewerComposeFinishes: config.whenNewerComposeFinishes,
        hostHeartbeatTimeoutMs: durationToMs(config.hostHeartbeatTimeout),
        waitForHostMs: durationToMs(config.waitForHost),
        attempts: config.attempts,
        downloadStallTimeoutMs: durationToMs(config.downloadStallTimeout),
      },
    };
  });
}

export async function recordJobAttempt(pool: Pool, attempt: JobAttempt): Promise<void> {
  await pool.query(
    `UPDATE test_jobs SET status = 'running', host = $2, attempts = GREATEST(attempts, $3), started_at = COALESCE(started_at, now())
     WHERE job_id = $1 AND status IN ('queued', 'running')`,
    [attempt.jobId, attempt.host, attempt.attempt],
  );
  await pool.query(
    `UPDATE compose_tests SET status = 'running', started_at = COALESCE(started_at, now())
     WHERE compose_id = (SELECT compose_id FROM test_jobs WHERE job_id = $1) AND status = 'queued'`,
    [attempt.jobId],
  );
}

export async function recordJobResult(pool: Pool, result: JobResult): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(
      `UPDATE test_jobs SET status = $2, reason = $3, host = COALESCE($4, host), accelerator = COALESCE($5, accelerator),
         boot_ms = COALESCE($6, boot_ms), vm_backend = COALESCE($7, vm_backend), accelerator_fallback = COALESCE($8, accelerator_fallback),
         finished_at = now() WHERE job_id = $1`,
      // Reasons can quote a guest's console or a server: anything at all.
      [result.jobId, result.status, result.reason === null ? null : storableText(result.reason, 16_384), result.host ?? null, result.accelerator ?? null, result.bootMs ?? null, result.backend ?? null, result.acceleratorFallback === undefined ? null : storableText(result.acceleratorFallback)],
    );
    await client.query('DELETE FROM test_job_commands WHERE job_id = $1', [result.jobId]);
    for (const o of result.outcomes ?? []) {
      await client.query(
        `INSERT INTO test_job_commands (job_id, plan_line, command, gating, expect, exit_code, timed_out, passed, duration_ms, output)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        // Postgres text cannot hold NUL; a command may print anything.
        [result.jobId, o.line, o.command, o.gating, o.expect, o.exitCode, o.timedOut, o.passed, o.durationMs, storableText(o.output, Number.MAX_SAFE_INTEGER)],
      );
    }
  });
}

/** Counts come from the job rows, which the children wrote: the store is the source of truth. */
export async function finishComposeTest(pool: Pool, input: FinishComposeTestInput): Promise<FinishComposeTestResult> {
  // Children that never got to record their end (cancelled before they started) count as aborted.
  await pool.query(
    `UPDATE test_jobs SET status = 'aborted', reason = COALESCE(reason, $2), finished_at = now()
     WHERE compose_id = $1 AND status IN ('queued', 'running')`,
    [input.composeId, input.reason ?? 'the compose test ended before this job did'],
  );
  const { rows } = await pool.query<{ job_id: string; arch: string; family: string; image_url: string; subvariant: string | null; format: string; image_type: string; image_name: string; status: string }>(
    'SELECT job_id, arch, family, image_url, subvariant, format, image_type, image_name, status FROM test_jobs WHERE compose_id = $1 ORDER BY job_id',
    [input.composeId],
  );
  const count = (status: string) => rows.filter((r) => r.status === status).length;
  const counts = { passed: count('success'), failed: count('failed'), errored: count('error'), aborted: count('aborted') };
  await pool.query(
    `UPDATE compose_tests SET status = $2, passed = $3, failed = $4, errored = $5, aborted = $6, reason = $7, superseded_by = $8,
       finished_at = now() WHERE compose_id = $1`,
    [input.composeId, input.status, counts.passed, counts.failed, counts.errored, counts.aborted, input.reason, input.supersededBy],
  );
  return {
    ...counts,
    jobs: rows.map((r) => ({
      jobId: Number(r.job_id), arch: r.arch, family: r.family, imageUrl: r.image_url, subvariant: r.subvariant,
      format: r.format, type: r.image_type, name: r.image_name, status: r.status,
    })),
  };
}

export async function failComposeTest(pool: Pool, input: FailComposeTestInput): Promise<void> {
  await pool.query(
    `INSERT INTO compose_tests (compose_id, stream, location, workflow_id, status, reason, finished_at)
     VALUES ($1, $2, $3, $4, 'error', $5, now())
     ON CONFLICT (compose_id) DO UPDATE SET status = 'error', reason = EXCLUDED.reason, finished_at = now(), workflow_id = EXCLUDED.workflow_id`,
    [input.composeId, composeStream(input.composeId), input.location, input.workflowId, input.reason],
  );
}

/** Older composes of the stream still under test; the caller's newer compose supersedes them. */
export async function olderActiveComposeTests(pool: Pool, input: SupersedeInput): Promise<{ composeId: string; workflowId: string }[]> {
  const { rows } = await pool.query<{ compose_id: string; workflow_id: string }>(
    `SELECT compose_id, workflow_id FROM compose_tests WHERE stream = $1 AND status IN ('queued', 'running') AND compose_id <> $2`,
    [input.stream, input.composeId],
  );
  return rows
    .filter((r) => compareComposeIds(r.compose_id, input.composeId) < 0)
    .map((r) => ({ composeId: r.compose_id, workflowId: r.workflow_id }));
}

export interface ResultsStoreActivities {
  recordCompose(input: RecordComposeInput): Promise<void>;
  recordComposeStatusEvent(event: ComposeStatusEvent): Promise<void>;
  planComposeTest(input: PlanComposeTestInput): Promise<ComposeTestPlan>;
  recordJobAttempt(attempt: JobAttempt): Promise<void>;
  recordJobResult(result: JobResult): Promise<void>;
  finishComposeTest(input: FinishComposeTestInput): Promise<FinishComposeTestResult>;
  /** Records a compose that cannot be tested; returns the dashboard address for the messages. */
  failComposeTest(input: FailComposeTestInput): Promise<{ dashboardUrl: string }>;
  /** Asks older composes' runs of the stream to stop; returns the compose IDs asked. */
  supersedeOlderComposeTests(input: SupersedeInput): Promise<string[]>;
}

export interface ResultsStoreDeps {
  readonly pool: Pool;
  readonly composeTesting: ComposeTestingConfig;
  readonly dashboardUrl: string;
  /** Signals other runs (a newer compose supersedes an older one's run). */
  readonly temporal: Client;
}

export function createResultsStoreActivities(deps: ResultsStoreDeps): ResultsStoreActivities {
  const { pool } = deps;
  return {
    recordCompose: (input) => recordCompose(pool, input),
    recordComposeStatusEvent: (event) => recordComposeStatusEvent(pool, event),
    planComposeTest: (input) => planComposeTest(pool, deps.composeTesting, deps.dashboardUrl, input),
    recordJobAttempt: (attempt) => recordJobAttempt(pool, attempt),
    recordJobResult: (result) => recordJobResult(pool, result),
    finishComposeTest: (input) => finishComposeTest(pool, input),
    async failComposeTest(input) {
      await failComposeTest(pool, input);
      return { dashboardUrl: deps.dashboardUrl };
    },
    async supersedeOlderComposeTests(input: SupersedeInput): Promise<string[]> {
      const older = await olderActiveComposeTests(pool, input);
      const asked: string[] = [];
      for (const run of older) {
        try {
          await deps.temporal.workflow.getHandle(run.workflowId).signal(supersedeSignal, { by: input.composeId });
          asked.push(run.composeId);
        } catch (err) {
          // Finished between the query and the signal: nothing to stop.
          if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
        }
      }
      return asked;
    },
  };
}
