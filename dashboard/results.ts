/**
 * The dashboard's reads from the results store: composes under test, jobs (filterable as
 * Autocloud's were) and a job's commands. Read-only; the workflows' activities write.
 */
import type { Pool } from '../common/db.js';

export interface ComposeRow {
  readonly id: number;
  readonly composeId: string;
  readonly stream: string | null;
  readonly release: string | null;
  readonly location: string;
  readonly workflowId: string;
  readonly status: string;
  readonly passed: number;
  readonly failed: number;
  readonly errored: number;
  readonly aborted: number;
  readonly jobs: number;
  readonly reason: string | null;
  readonly supersededBy: string | null;
  readonly queuedAt: string;
  readonly finishedAt: string | null;
}

export interface JobRow {
  readonly jobId: number;
  readonly composeId: string;
  readonly imageName: string;
  readonly imagePath: string;
  readonly imageUrl: string;
  readonly variant: string;
  readonly family: string;
  readonly arch: string;
  readonly imageType: string;
  readonly provider: string;
  readonly status: string;
  readonly host: string | null;
  readonly attempts: number;
  readonly accelerator: string | null;
  /** Set when KVM stopped the VM and it was restarted under TCG. */
  readonly acceleratorFallback: string | null;
  readonly vmBackend: string | null;
  readonly bootMs: number | null;
  readonly reason: string | null;
  readonly workflowId: string;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface CommandRow {
  readonly planLine: number;
  readonly command: string;
  readonly gating: boolean;
  readonly expect: 'success' | 'failure';
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly passed: boolean;
  readonly durationMs: number;
  readonly output: string;
}

/** The filters the jobs page offers; each is one column's exact value. */
export const JOB_FILTERS = ['status', 'arch', 'family', 'image_type', 'provider'] as const;
export type JobFilter = (typeof JOB_FILTERS)[number];
export type JobFilters = Partial<Record<JobFilter | 'compose', string>>;

const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);

const COMPOSE_COLUMNS = `c.id, c.compose_id, c.stream, c.release, c.location, c.workflow_id, c.status, c.passed, c.failed, c.errored, c.aborted,
  c.reason, c.superseded_by, c.queued_at, c.finished_at, (SELECT count(*) FROM test_jobs j WHERE j.compose_id = c.compose_id)::int AS jobs`;

interface ComposeRecord {
  id: string; compose_id: string; stream: string | null; release: string | null; location: string; workflow_id: string; status: string;
  passed: number; failed: number; errored: number; aborted: number; reason: string | null; superseded_by: string | null;
  queued_at: Date; finished_at: Date | null; jobs: number;
}

function composeRow(r: ComposeRecord): ComposeRow {
  return {
    id: Number(r.id), composeId: r.compose_id, stream: r.stream, release: r.release, location: r.location, workflowId: r.workflow_id,
    status: r.status, passed: r.passed, failed: r.failed, errored: r.errored, aborted: r.aborted, jobs: r.jobs, reason: r.reason,
    supersededBy: r.superseded_by, queuedAt: r.queued_at.toISOString(), finishedAt: iso(r.finished_at),
  };
}

/** Newest first; `before` pages back from a compose_job_id (Autocloud's range pagination). */
export async function listComposes(pool: Pool, options: { before?: number; limit: number }): Promise<ComposeRow[]> {
  const { rows } = await pool.query<ComposeRecord>(
    `SELECT ${COMPOSE_COLUMNS} FROM compose_tests c WHERE ($1::bigint IS NULL OR c.id < $1) ORDER BY c.id DESC LIMIT $2`,
    [options.before ?? null, options.limit],
  );
  return rows.map(composeRow);
}

export async function getCompose(pool: Pool, composeId: string): Promise<ComposeRow | null> {
  const { rows } = await pool.query<ComposeRecord>(`SELECT ${COMPOSE_COLUMNS} FROM compose_tests c WHERE c.compose_id = $1`, [composeId]);
  return rows[0] ? composeRow(rows[0]) : null;
}

interface JobRecord {
  job_id: string; compose_id: string; image_name: string; image_path: string; image_url: string; variant: string; family: string; arch: string;
  image_type: string; provider: string; status: string; host: string | null; attempts: number; accelerator: string | null; accelerator_fallback: string | null; vm_backend: string | null; boot_ms: number | null;
  reason: string | null; workflow_id: string; queued_at: Date; started_at: Date | null; finished_at: Date | null;
}

function jobRow(r: JobRecord): JobRow {
  return {
    jobId: Number(r.job_id), composeId: r.compose_id, imageName: r.image_name, imagePath: r.image_path, imageUrl: r.image_url, variant: r.variant,
    family: r.family, arch: r.arch, imageType: r.image_type, provider: r.provider, status: r.status, host: r.host, attempts: r.attempts,
    accelerator: r.accelerator, acceleratorFallback: r.accelerator_fallback, vmBackend: r.vm_backend, bootMs: r.boot_ms, reason: r.reason, workflowId: r.workflow_id, queuedAt: r.queued_at.toISOString(),
    startedAt: iso(r.started_at), finishedAt: iso(r.finished_at),
  };
}

export async function listJobs(pool: Pool, filters: JobFilters, options: { before?: number; limit: number }): Promise<JobRow[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  // Column names come from this fixed list only; values are parameters.
  for (const column of [...JOB_FILTERS, 'compose'] as const) {
    const value = filters[column];
    if (!value) continue;
    values.push(value);
    where.push(`${column === 'compose' ? 'compose_id' : column} = $${values.length}`);
  }
  if (options.before !== undefined) {
    values.push(options.before);
    where.push(`job_id < $${values.length}`);
  }
  values.push(options.limit);
  const { rows } = await pool.query<JobRecord>(
    `SELECT * FROM test_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY job_id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map(jobRow);
}

/** The values each filter can take: what the store holds (Autocloud offered the same). */
export async function jobFilterOptions(pool: Pool): Promise<Record<JobFilter, string[]>> {
  const options = {} as Record<JobFilter, string[]>;
  for (const column of JOB_FILTERS) {
    const { rows } = await pool.query<{ value: string }>(`SELECT DISTINCT ${column} AS value FROM test_jobs ORDER BY 1`);
    options[column] = rows.map((r) => r.value);
  }
  return options;
}

export async function getJob(pool: Pool, jobId: number): Promise<{ job: JobRow; commands: CommandRow[] } | null> {
  const { rows } = await pool.query<JobRecord>('SELECT * FROM test_jobs WHERE job_id = $1', [jobId]);
  if (!rows[0]) return null;
  const commands = await pool.query<{ plan_line: number; command: string; gating: boolean; expect: 'success' | 'failure'; exit_code: number | null; timed_out: boolean; passed: boolean; duration_ms: number; output: string }>(
    'SELECT * FROM test_job_commands WHERE job_id = $1 ORDER BY plan_line',
    [jobId],
  );
  return {
    job: jobRow(rows[0]),
    commands: commands.rows.map((c) => ({
      planLine: c.plan_line, command: c.command, gating: c.gating, expect: c.expect, exitCode: c.exit_code, timedOut: c.timed_out,
      passed: c.passed, durationMs: c.duration_ms, output: c.output,
    })),
  };
}

/**
 * A job's output as Tunir wrote its result file: per command, `command:`, `status:`, the
 * output; then the non-gating tally. One string per line, for the page's per-line anchors.
 */
export function transcript(commands: readonly CommandRow[]): string[] {
  const lines: string[] = [];
  for (const c of commands) {
    const kind = !c.gating ? 'non-gating' : c.expect === 'failure' ? 'expected to fail' : 'gating';
    lines.push(`command: ${c.command}    (plan line ${c.planLine}, ${kind})`);
    const ending = c.timedOut ? 'timed out' : `exit ${c.exitCode ?? 'none'}`;
    lines.push(`status: ${c.passed ? 'True' : 'False'}    (${ending}, ${(c.durationMs / 1000).toFixed(1)} s)`);
    const output = c.output.replace(/\r\n/g, '\n').replace(/\n$/, '');
    if (output) lines.push(...output.split('\n'));
  }
  const nonGating = commands.filter((c) => !c.gating);
  lines.push('Non gating tests status:', `Total:${nonGating.length}`, `Passed:${nonGating.filter((c) => c.passed).length}`, `Failed:${nonGating.filter((c) => !c.passed).length}`);
  return lines;
}
