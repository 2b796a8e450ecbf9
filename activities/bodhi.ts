/**
 * Bodhi's REST API: the batch a push carries (the release's tags, the updates requested for
 * testing or stable and their builds). Docs: ../shared/docs/fedora-apis.md §5.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { BodhiReleaseRecordSchema, BodhiReleaseSchema, BodhiReleasesPageSchema, BodhiUpdatesPageSchema, type BodhiRelease } from '../common/schemas/bodhi.js';
import { issueLines } from '../common/schemas/issues.js';
import { activityCancellation, getJson, HTTP_NOT_FOUND, HTTP_UNAUTHORIZED, postJson } from './http.js';
import { OidcTokenSource, type OidcLogin } from './oidc.js';
import type { HttpLimits } from '../common/http-body.js';

export const BODHI_RESPONSE_INVALID = 'BodhiResponseInvalid';
export const BODHI_UNSIGNED_BUILDS = 'BodhiUnsignedBuilds';

export interface PushBatchInput {
  /** Bodhi's release name, e.g. F29. */
  readonly release: string;
  readonly request: 'testing' | 'stable';
}

export interface PushUpdate {
  readonly alias: string;
  readonly type: string;
  readonly builds: readonly string[];
}

export interface PushBatch {
  readonly release: BodhiRelease;
  readonly request: 'testing' | 'stable';
  readonly updates: readonly PushUpdate[];
  /** Updates left out, and why (Bodhi's push skips updates with unsigned builds). */
  readonly skipped: readonly { readonly alias: string; readonly reason: string }[];
}

export interface PushReport {
  readonly release: string;
  readonly request: 'testing' | 'stable';
  readonly state: 'success' | 'failed';
  readonly updates: readonly string[];
  readonly errorMessage?: string;
}

export interface BodhiActivities {
  fetchPushBatch(input: PushBatchInput): Promise<PushBatch>;
  /**
   * Tells Bodhi how the push of a release and request ended, so it can finish it: on success
   * Bodhi marks the updates pushed with their new status, unlocks them and announces them.
   */
  reportPushToBodhi(input: PushReport): Promise<void>;
  /** Bodhi's release names by the numeric IDs its push messages carry; null for an unknown ID. */
  resolveBodhiReleases(ids: readonly number[]): Promise<Record<string, string | null>>;
  /** Every release Bodhi has, all pages, as Bodhi returns them. */
  listBodhiReleases(): Promise<Record<string, unknown>[]>;
  /** One release as Bodhi returns it; null when Bodhi has none by that name. */
  getBodhiRelease(name: string): Promise<Record<string, unknown> | null>;
  /** `POST /releases/` (admin): creates a release, or edits the one named `edited`. */
  saveBodhiRelease(fields: Readonly<Record<string, unknown>>, edited?: string): Promise<Record<string, unknown>>;
}

function parsed<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw ApplicationFailure.nonRetryable(`Bodhi ${what}: ${issueLines(result.error).join('; ')}`, BODHI_RESPONSE_INVALID);
  return result.data;
}

export function createBodhiActivities(deps: { readonly bodhiUrl: string; readonly http: HttpLimits; readonly bodhiLogin: OidcLogin | null }): BodhiActivities {
  const base = deps.bodhiUrl.replace(/\/+$/, '');
  const get = (path: string) => getJson(`${base}${path}`, { ...deps.http, signal: activityCancellation() });
  const tokens = deps.bodhiLogin ? new OidcTokenSource(deps.bodhiLogin, deps.http) : null;
  /** A write, as the releng account: with a bearer token, fetched again once if Bodhi says it expired. */
  const post = async (path: string, body: unknown): Promise<unknown> => {
    const send = async (token: string | null) => postJson(`${base}${path}`, body, { ...deps.http, signal: activityCancellation(), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    if (!tokens) return send(null);
    const token = await tokens.token();
    try {
      return await send(token);
    } catch (err) {
      if (!(err instanceof ApplicationFailure) || err.type !== HTTP_UNAUTHORIZED) throw err;
      tokens.invalidate(token);
      return send(await tokens.token());
    }
  };
  /** Every release Bodhi has, all pages (activities are called unbound: no `this`). */
  async function listBodhiReleases(): Promise<Record<string, unknown>[]> {
    const releases: Record<string, unknown>[] = [];
    for (let page = 1, pages = 1; page <= pages; page++) {
      const body = parsed(BodhiReleasesPageSchema, await get(`/releases/?rows_per_page=100&page=${page}`), `releases (page ${page})`);
      pages = body.pages;
      releases.push(...body.releases);
    }
    return releases;
  }
  return {
    async fetchPushBatch(input: PushBatchInput): Promise<PushBatch> {
      const release = parsed(BodhiReleaseSchema, await get(`/releases/${encodeURIComponent(input.release)}`), `release ${input.release}`);
      const updates: PushUpdate[] = [];
      const skipped: { alias: string; reason: string }[] = [];
      for (let page = 1, pages = 1; page <= pages; page++) {
        const query = new URLSearchParams({ releases: release.name, request: input.request, rows_per_page: '100', page: String(page) });
        const body = parsed(BodhiUpdatesPageSchema, await get(`/updates/?${query.toString()}`), `updates of ${release.name} (page ${page})`);
        pages = body.pages;
        for (const update of body.updates) {
          const unsigned = update.builds.filter((b) => b.signed === false).map((b) => b.nvr);
          if (unsigned.length > 0) skipped.push({ alias: update.alias, reason: `unsigned builds: ${unsigned.join(', ')}` });
          else updates.push({ alias: update.alias, type: update.type ?? 'unspecified', builds: update.builds.map((b) => b.nvr) });
        }
      }
      return { release, request: input.request, updates, skipped };
    },

    async reportPushToBodhi(input: PushReport): Promise<void> {
      await post(`/composes/${encodeURIComponent(input.release)}/${input.request}`, { state: input.state, updates: input.updates, agent: 'releng-o-tron', ...(input.errorMessage ? { error_message: input.errorMessage } : {}) });
    },

    listBodhiReleases,

    async getBodhiRelease(name: string) {
      try {
        return parsed(BodhiReleaseRecordSchema, await get(`/releases/${encodeURIComponent(name)}`), `release ${name}`);
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === HTTP_NOT_FOUND) return null;
        throw err;
      }
    },

    async saveBodhiRelease(fields, edited) {
      return parsed(BodhiReleaseRecordSchema, await post('/releases/', { ...fields, ...(edited ? { edited } : {}) }), `saved release ${String(fields['name'])}`);
    },

    async resolveBodhiReleases(ids: readonly number[]): Promise<Record<string, string | null>> {
      const byId = new Map<number, string>();
      for (const release of await listBodhiReleases()) if (typeof release['id'] === 'number' && typeof release['name'] === 'string') byId.set(release['id'], release['name']);
      return Object.fromEntries(ids.map((id) => [String(id), byId.get(id) ?? null]));
    },
  };
}
