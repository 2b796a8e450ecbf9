/**
 * Bodhi's REST API (subset): releases, updates with their requests, composes. JSON as
 * bodhi-server 8 returns it. Docs: ../shared/docs/fedora-apis.md §5.
 */
import type { ServerResponse } from 'node:http';
import { HttpError, readJson, sendJson, type Request } from './http.js';
import type { OidcProvider } from './oidc.js';
import { pageOf } from './paging.js';

export type BodhiRelease = Record<string, unknown> & { name: string; state: string };
export type BodhiUpdate = Record<string, unknown> & {
  alias: string;
  title: string;
  status: string;
  request: string | null;
  locked: boolean;
  release: BodhiRelease;
  builds: { nvr: string; epoch: number; type: string; signed: boolean; release_id: number }[];
};

const REQUESTS = ['testing', 'stable', 'obsolete', 'unpush', 'revoke'] as const;
const RELEASE_STATES = ['disabled', 'pending', 'frozen', 'current', 'archived'] as const;

/** A message Bodhi publishes (topic without the `org.fedoraproject.<env>.` prefix). */
export interface BodhiMessage {
  readonly topic: string;
  readonly body: Record<string, unknown>;
}

export class BodhiServer {
  readonly releases = new Map<string, BodhiRelease>();
  readonly updates = new Map<string, BodhiUpdate>();
  /** Composes an outside composer reported on, by `<release>/<request>`. */
  private readonly reported = new Map<string, { state: string; error_message: string | null; state_date: string }>();
  private readonly listeners: ((message: BodhiMessage) => void)[] = [];
  /** Collections whose writes Bodhi refuses for now (a revoked permission): Bodhi's 403, with the reason. */
  private readonly denials = new Map<string, string>();
  /** Who holds a bearer token; null: writes are not checked (Bodhi without authentication). */
  private identity: OidcProvider | null = null;

  /** Writes need a bearer token from this provider; releases and compose reports need the releng group. */
  requireTokens(provider: OidcProvider): void {
    this.identity = provider;
  }

  /** Bodhi's check of the caller of a write: a live token (401 otherwise), and `group` when given (403). */
  private authorize(req: Request, group: string | null): void {
    if (!this.identity) return;
    const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers['authorization'] ?? ''));
    const holder = bearer ? this.identity.introspect(bearer[1]!) : null;
    if (!holder) throw new HttpError(401, bearer ? 'The access token is invalid or has expired' : 'Authentication required: send an OIDC access token (Authorization: Bearer ...)');
    if (group && !holder.groups.includes(group)) throw new HttpError(403, `${holder.clientId} is not a member of ${group}`);
  }

  /** Takes (or, with null, gives back) the permission to write a collection (`composes`, `releases`, `updates`). */
  denyWrites(collection: 'composes' | 'releases' | 'updates', reason: string | null): void {
    if (reason === null) this.denials.delete(collection);
    else this.denials.set(collection, reason);
  }

  onMessage(listener: (message: BodhiMessage) => void): void {
    this.listeners.push(listener);
  }

  private emit(topic: string, body: Record<string, unknown>): void {
    for (const listener of this.listeners) listener({ topic, body });
  }

  /**
   * The end of Bodhi's composer (tasks/composer.py): on success each update takes its request as
   * status, is marked pushed and unlocked, and `bodhi.update.complete.<request>` goes out; then
   * `bodhi.compose.complete`. A failure keeps the updates as they are and records the error.
   */
  private finishCompose(releaseName: string, request: string, body: Record<string, unknown>): Record<string, unknown> {
    const release = this.release(releaseName);
    if (request !== 'testing' && request !== 'stable') throw new HttpError(400, `request must be testing or stable, not ${request}`);
    const state = body['state'];
    if (state !== 'success' && state !== 'failed') throw new HttpError(400, 'state must be success or failed');
    const aliases = body['updates'];
    if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string')) throw new HttpError(400, 'updates must be a list of update aliases');
    const agent = typeof body['agent'] === 'string' ? body['agent'] : 'releng-o-tron';
    const updates = aliases.map((alias) => this.update(alias));
    const wrong = updates.filter((u) => u.release.name !== release.name || (u.request !== request && u.status !== request));
    if (wrong.length > 0) throw new HttpError(400, `not ${release.name} updates requested for ${request}: ${wrong.map((u) => u.alias).join(', ')}`);
    const errorMessage = state === 'failed' ? (typeof body['error_message'] === 'string' ? body['error_message'] : 'no reason given') : null;
    const now = new Date().toISOString().replace('T', ' ').slice(0, 19);
    this.reported.set(`${release.name}/${request}`, { state, error_message: errorMessage, state_date: now });
    const tag = release[`${request}_tag`];
    const repo = typeof tag === 'string' ? tag : `${release.name.toLowerCase()}-updates${request === 'testing' ? '-testing' : ''}`;
    if (state === 'success') {
      for (const update of updates) {
        if (update.status === request && update.request === null) continue;
        Object.assign(update, { status: request, request: null, locked: false, pushed: true, date_pushed: now, [`date_${request}`]: now });
        this.emit(`bodhi.update.complete.${request}`, { update, agent });
      }
    }
    this.emit('bodhi.compose.complete', { success: state === 'success', repo, agent, ctype: 'rpm' });
    return { compose: { release: { name: release.name }, request, state, error_message: errorMessage, state_date: now, update_summary: updates.map((u) => ({ alias: u.alias, title: u.title })) } };
  }

  seed(releases: readonly BodhiRelease[], updates: readonly BodhiUpdate[]): void {
    for (const r of releases) this.releases.set(r.name, r);
    for (const u of updates) this.updates.set(u.alias, u);
  }

  private release(name: string): BodhiRelease {
    const release = this.releases.get(name) ?? [...this.releases.values()].find((r) => r['long_name'] === name || r['dist_tag'] === name);
    if (!release) throw new HttpError(404, `Invalid release specified: ${name}`);
    return release;
  }

  private update(alias: string): BodhiUpdate {
    const update = this.updates.get(alias);
    if (!update) throw new HttpError(404, `Invalid update id: ${alias}`);
    return update;
  }

  private listUpdates(query: URLSearchParams): BodhiUpdate[] {
    const many = (name: string) => query.getAll(name).flatMap((v) => v.split(',')).filter(Boolean);
    const releases = [...many('releases'), ...many('release')];
    const statuses = many('status');
    const aliases = [...many('alias'), ...many('updateid')];
    const builds = many('builds');
    const packages = many('packages');
    const request = query.get('request');
    const locked = query.get('locked');
    return [...this.updates.values()]
      .filter((u) => releases.length === 0 || releases.includes(u.release.name))
      .filter((u) => statuses.length === 0 || statuses.includes(u.status))
      .filter((u) => aliases.length === 0 || aliases.includes(u.alias))
      .filter((u) => !request || u.request === request)
      .filter((u) => locked === null || String(u.locked) === locked)
      .filter((u) => builds.length === 0 || u.builds.some((b) => builds.includes(b.nvr)))
      .filter((u) => packages.length === 0 || u.builds.some((b) => packages.includes(b.nvr.replace(/-[^-]+-[^-]+$/, ''))))
      .sort((a, b) => String(b['date_submitted']).localeCompare(String(a['date_submitted'])));
  }

  private composes(): Record<string, unknown>[] {
    const groups = new Map<string, BodhiUpdate[]>();
    for (const u of this.updates.values()) {
      if (!u.locked || !u.request) continue;
      const key = `${u.release.name}/${u.request}`;
      groups.set(key, [...(groups.get(key) ?? []), u]);
    }
    return [...groups.entries()].map(([key, updates]) => {
      const [release, request] = key.split('/') as [string, string];
      const reported = this.reported.get(key);
      return {
        release_id: this.release(release)['id'] ?? null, request, state: reported?.state ?? 'requested', content_type: 'rpm',
        security: updates.some((u) => u['type'] === 'security'), error_message: reported?.error_message ?? null, checkpoints: '{}',
        date_created: new Date().toISOString().replace('T', ' ').slice(0, 19),
        update_summary: updates.map((u) => ({ alias: u.alias, title: u.title })),
        release: { name: release },
      };
    });
  }

  readonly service = async (req: Request, res: ServerResponse): Promise<void> => {
    const parts = req.path.split('/').filter(Boolean);
    const [collection, id, action] = parts;
    // Every write is someone's; releases and compose results are releng's alone.
    if (req.method !== 'GET') {
      this.authorize(req, collection === 'releases' || collection === 'composes' ? 'releng' : null);
      const denial = this.denials.get(collection ?? '');
      if (denial) throw new HttpError(403, denial);
    }
    if (req.method === 'GET' && collection === 'releases' && !id) {
      const states = req.query.getAll('state');
      const name = req.query.get('name');
      const all = [...this.releases.values()]
        .filter((r) => states.length === 0 || states.includes(r.state))
        .filter((r) => !name || r.name === name)
        .filter((r) => req.query.get('exclude_archived') !== 'true' || r.state !== 'archived');
      const page = pageOf(all, req.query, 'rows_per_page', 20, 100);
      sendJson(res, 200, { releases: page.items, page: page.page, pages: page.pages, rows_per_page: page.rowsPerPage, total: page.total });
      return;
    }
    if (req.method === 'GET' && collection === 'releases' && id) return sendJson(res, 200, this.release(id));
    if (req.method === 'POST' && collection === 'releases' && !id) {
      const body = (await readJson(req)) as Record<string, unknown>;
      if (typeof body['name'] !== 'string') throw new HttpError(400, 'name is required');
      if (body['state'] !== undefined && !RELEASE_STATES.includes(body['state'] as (typeof RELEASE_STATES)[number])) {
        throw new HttpError(400, `state must be one of ${RELEASE_STATES.join(', ')}`);
      }
      const edited = typeof body['edited'] === 'string' ? body['edited'] : null;
      const previous = edited ? this.release(edited) : undefined;
      if (!previous && this.releases.has(body['name'])) throw new HttpError(409, `Release ${body['name']} already exists`);
      const { edited: _e, csrf_token: _c, ...fields } = body;
      const release = { ...(previous ?? { state: 'disabled', composed_by_bodhi: true }), ...fields } as BodhiRelease;
      if (previous) this.releases.delete(previous.name);
      this.releases.set(release.name, release);
      if (release.state === 'archived') {
        for (const u of this.updates.values()) {
          if (u.release.name === release.name && !['stable', 'unpushed', 'obsolete'].includes(u.status)) {
            u.status = 'obsolete';
            u.request = null;
          }
        }
      }
      for (const u of this.updates.values()) if (u.release.name === (previous?.name ?? release.name)) u.release = release;
      return sendJson(res, 200, release);
    }
    if (req.method === 'GET' && collection === 'updates' && !id) {
      const page = pageOf(this.listUpdates(req.query), req.query, 'rows_per_page', 20, 1000);
      sendJson(res, 200, { updates: page.items, page: page.page, pages: page.pages, rows_per_page: page.rowsPerPage, total: page.total });
      return;
    }
    if (req.method === 'GET' && collection === 'updates' && id && !action) return sendJson(res, 200, { update: this.update(id), can_edit: false });
    if (req.method === 'POST' && collection === 'updates' && id && action === 'request') {
      const update = this.update(id);
      const body = (await readJson(req)) as { request?: unknown };
      if (!REQUESTS.includes(body.request as (typeof REQUESTS)[number])) {
        throw new HttpError(400, `request must be one of ${REQUESTS.join(', ')}`);
      }
      if (update.locked) throw new HttpError(403, `Can't change the request on a locked update`);
      if (body.request === 'testing' && update.status === 'stable') throw new HttpError(400, 'Pushing back to testing a stable update is not allowed');
      update.request = body.request as string;
      return sendJson(res, 200, { update });
    }
    if (req.method === 'GET' && collection === 'composes' && !id) return sendJson(res, 200, { composes: this.composes() });
    if (req.method === 'POST' && collection === 'composes' && id && action) {
      return sendJson(res, 200, this.finishCompose(id, action, (await readJson(req)) as Record<string, unknown>));
    }
    if (req.method === 'GET' && collection === 'composes' && id && action) {
      const compose = this.composes().find((c) => (c['release'] as { name: string }).name === id && c['request'] === action);
      if (!compose) throw new HttpError(404, 'Compose not found');
      return sendJson(res, 200, { compose });
    }
    throw new HttpError(404, `The resource could not be found: ${req.method} ${req.path}`);
  };
}
