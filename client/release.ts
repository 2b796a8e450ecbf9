/** The release lifecycle from the CLI: Bodhi's releases listed, a branch planned in-process (dry run) or started. */
import { ApplicationFailure } from '@temporalio/common';
import { createBodhiActivities } from '../activities/bodhi.js';
import { BRANCH_REFUSED, createReleaseActivities, EOL_REFUSED } from '../activities/release.js';
import type { EolPlan } from '../common/release-eol.js';
import { pushPaths, type Config } from '../common/config.js';
import { createPool } from '../common/db.js';
import { createPdcActivities } from '../activities/pdc.js';
import { durationToMs } from '../common/duration.js';
import type { BranchPlan } from '../common/release-branch.js';

function clients(config: Config) {
  const http = { timeoutMs: durationToMs(config.services.requestTimeout), maxBytes: config.services.maxResponseBytes };
  const bodhi = createBodhiActivities({ bodhiUrl: config.services.bodhi, http, bodhiLogin: config.services.bodhiAuth ?? null });
  const pdc = createPdcActivities({ pdcUrl: config.services.pdc, http });
  const paths = pushPaths(config);
  const release = createReleaseActivities({
    kojiHubUrl: config.services.kojiHub, kojiLogin: config.services.kojiAuth ?? null, http, bodhi, pdc,
    paths: { mirrorRoot: paths.mirrorRoot, archiveRoot: paths.archiveRoot, ostreeRepo: paths.ostreeRepo },
    // The dry run reads what the lifecycle runs stored when a database is configured; otherwise the config file's lanes alone.
    releaseConfig: { pool: config.database.url ? createPool(config.database.url, 1) : null, lanes: config.gating.lanes },
  });
  return { bodhi, release };
}

export interface ReleaseRow {
  readonly name: string;
  readonly state: string;
  readonly branch: string;
  readonly stable_tag: string;
  readonly testing_tag: string;
  readonly candidate_tag: string;
  readonly composed_by_bodhi: boolean | null;
}

const field = (r: Record<string, unknown>, key: string) => (typeof r[key] === 'string' ? (r[key]) : '');

export async function listReleases(config: Config): Promise<ReleaseRow[]> {
  const releases = await clients(config).bodhi.listBodhiReleases();
  return releases
    .map((r) => ({
      name: field(r, 'name'), state: field(r, 'state'), branch: field(r, 'branch'), stable_tag: field(r, 'stable_tag'), testing_tag: field(r, 'testing_tag'),
      candidate_tag: field(r, 'candidate_tag'), composed_by_bodhi: typeof r['composed_by_bodhi'] === 'boolean' ? r['composed_by_bodhi'] : null,
    }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

export function formatReleases(rows: readonly ReleaseRow[]): string {
  const header = ['RELEASE', 'STATE', 'BRANCH', 'STABLE TAG', 'TESTING TAG', 'CANDIDATE TAG', 'COMPOSED BY BODHI'];
  const cells = rows.map((r) => [r.name, r.state, r.branch, r.stable_tag, r.testing_tag, r.candidate_tag, r.composed_by_bodhi === null ? '' : r.composed_by_bodhi ? 'yes' : 'no']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** A plan read from the services now, changing nothing; a refusal comes back as its reason. */
async function planNow<T>(plan: () => Promise<T>, refusal: string): Promise<{ plan: T } | { refused: string }> {
  try {
    return { plan: await plan() };
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === refusal) return { refused: err.message };
    throw err;
  }
}

export const planBranchNow = (config: Config, release: string): Promise<{ plan: BranchPlan } | { refused: string }> =>
  planNow(() => clients(config).release.planReleaseBranch({ release }), BRANCH_REFUSED);

export const planEolNow = (config: Config, release: string): Promise<{ plan: EolPlan } | { refused: string }> =>
  planNow(() => clients(config).release.planReleaseEol({ release }), EOL_REFUSED);

