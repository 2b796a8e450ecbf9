/**
 * PDC's REST API (subset): releases, release-components, build-images with their RPMs,
 * composes, with PDC's filters and paging. Docs: ../shared/docs/fedora-apis.md §6.
 */
import type { ServerResponse } from 'node:http';
import { HttpError, readJson, sendJson, type Request } from './http.js';
import { pdcPage } from './paging.js';

export type PdcRelease = Record<string, unknown> & { release_id: string; active: boolean };
export type PdcReleaseComponent = Record<string, unknown> & { id: number; name: string; release: { release_id: string; active: boolean } };
export interface PdcBuildImage {
  url: string;
  image_id: string;
  image_format: string;
  md5: string;
  rpms: string[];
  archives: { build_nvr: string; name: string; size: number; md5: string }[];
  releases: string[];
}
export type PdcCompose = Record<string, unknown> & { compose_id: string; release: string };
export interface PdcComponentRelationship {
  id: number;
  type: string;
  from_component: { release: string; name: string };
  to_component: { release: string; name: string };
}

/** rpm NEVRA `name-epoch:version-release.arch` → its name. */
function rpmName(nevra: string): string {
  return nevra.replace(/-(\d+:)?[^-]+-[^-]+$/, '');
}

export class PdcServer {
  readonly releases = new Map<string, PdcRelease>();
  readonly components: PdcReleaseComponent[] = [];
  readonly buildImages: PdcBuildImage[] = [];
  readonly composes = new Map<string, PdcCompose>();
  readonly relationships: PdcComponentRelationship[] = [];
  /** SRPM name of each binary RPM name, for component_name lookups. */
  readonly srpmOf = new Map<string, string>();

  seed(data: { releases: PdcRelease[]; components: PdcReleaseComponent[]; buildImages: PdcBuildImage[]; composes: PdcCompose[]; srpmOf: Record<string, string>; relationships?: PdcComponentRelationship[] }): void {
    this.relationships.push(...(data.relationships ?? []));
    for (const r of data.releases) this.releases.set(r.release_id, r);
    this.components.push(...data.components);
    this.buildImages.push(...data.buildImages);
    for (const c of data.composes) this.composes.set(c.compose_id, c);
    for (const [rpm, srpm] of Object.entries(data.srpmOf)) this.srpmOf.set(rpm, srpm);
  }

  private filterBy<T extends Record<string, unknown>>(rows: T[], query: URLSearchParams, fields: readonly string[]): T[] {
    return rows.filter((row) =>
      fields.every((field) => {
        const wanted = query.getAll(field);
        if (wanted.length === 0) return true;
        const value = row[field];
        const text = typeof value === 'object' && value !== null && 'release_id' in value ? String((value).release_id) : String(value);
        return wanted.includes(text);
      }),
    );
  }

  private imageMatchesComponent(image: PdcBuildImage, component: string): boolean {
    return image.rpms.some((nevra) => {
      const name = rpmName(nevra);
      return name === component || this.srpmOf.get(name) === component;
    });
  }

  readonly service = async (req: Request, res: ServerResponse): Promise<void> => {
    const parts = req.path.split('/').filter(Boolean);
    const [collection, id] = parts;
    const list = (rows: unknown[]) => sendJson(res, 200, pdcPage(rows, req.query, req.baseUrl, `/${collection}/`));
    if (collection === 'releases') {
      if (req.method === 'GET' && !id) {
        return list(this.filterBy([...this.releases.values()], req.query, ['release_id', 'short', 'version', 'release_type', 'active', 'product_version']));
      }
      const release = id ? this.releases.get(id) : undefined;
      if (!release) throw new HttpError(404, 'Not found.');
      if (req.method === 'GET') return sendJson(res, 200, release);
      if (req.method === 'PATCH') {
        const patch = (await readJson(req)) as Record<string, unknown>;
        if ('active' in patch && typeof patch['active'] !== 'boolean') throw new HttpError(400, '"active" must be a boolean');
        Object.assign(release, patch, { release_id: release.release_id });
        for (const c of this.components) if (c.release.release_id === release.release_id) c.release.active = release.active;
        return sendJson(res, 200, release);
      }
    }
    if (collection === 'release-components' && req.method === 'GET') {
      if (id) {
        const component = this.components.find((c) => String(c.id) === id);
        if (!component) throw new HttpError(404, 'Not found.');
        return sendJson(res, 200, component);
      }
      return list(this.filterBy(this.components, req.query, ['name', 'release', 'global_component', 'bugzilla_component', 'active', 'type', 'dist_git_branch']));
    }
    if (collection === 'build-images' && req.method === 'GET' && !id) {
      const components = req.query.getAll('component_name');
      const rows = this.buildImages
        .filter((i) => components.length === 0 || components.some((c) => this.imageMatchesComponent(i, c)))
        .filter((i) => req.query.getAll('image_id').length === 0 || req.query.getAll('image_id').includes(i.image_id))
        .filter((i) => req.query.getAll('image_format').length === 0 || req.query.getAll('image_format').includes(i.image_format))
        .filter((i) => req.query.getAll('release_id').length === 0 || i.releases.some((r) => req.query.getAll('release_id').includes(r)));
      return list(rows);
    }
    if (collection === 'release-component-relationships' && req.method === 'GET' && !id) {
      const q = req.query;
      const match = (value: string, name: string) => q.getAll(name).length === 0 || q.getAll(name).includes(value);
      return list(
        this.relationships.filter(
          (r) =>
            match(r.type, 'type') &&
            match(r.from_component.release, 'from_component_release') &&
            match(r.from_component.name, 'from_component_name') &&
            match(r.to_component.release, 'to_component_release') &&
            match(r.to_component.name, 'to_component_name'),
        ),
      );
    }
    if (collection === 'composes' && req.method === 'GET') {
      if (id) {
        const compose = this.composes.get(id);
        if (!compose) throw new HttpError(404, 'Not found.');
        return sendJson(res, 200, compose);
      }
      return list(this.filterBy([...this.composes.values()], req.query, ['compose_id', 'release', 'compose_type', 'acceptance_testing', 'compose_date']));
    }
    throw new HttpError(404, 'Not found.');
  };
}
