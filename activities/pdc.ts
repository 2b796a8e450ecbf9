/**
 * PDC (product-definition-center): which artifacts contain a build's packages. For image kinds,
 * `build-images/?component_name=` (an image whose RPMs come from the component's SRPM); for
 * OSTree, release-component relationships naming the packages a tree includes. The answer keeps
 * its reasons, so a run shows why each artifact was or was not recomposed.
 */
import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ARTIFACT_KINDS, type ArtifactKind } from '../common/artifacts/index.js';
import { issueLines } from '../common/schemas/issues.js';
import { activityCancellation, getJson, HTTP_NOT_FOUND, patchJson } from './http.js';
import type { HttpLimits } from '../common/http-body.js';

const PdcPageSchema = z.object({ count: z.number(), next: z.string().nullable(), results: z.array(z.unknown()) });
const BuildImageSchema = z.looseObject({
  image_id: z.string(),
  image_format: z.string(),
  rpms: z.array(z.string()),
  releases: z.array(z.string()),
  archives: z.array(z.looseObject({ build_nvr: z.string().optional() })).optional(),
});
const RelationshipSchema = z.looseObject({
  type: z.string(),
  from_component: z.looseObject({ release: z.string(), name: z.string() }),
  to_component: z.looseObject({ release: z.string(), name: z.string() }),
});

export const PDC_RESPONSE_INVALID = 'PdcResponseInvalid';

export interface ImpactInput {
  /** PDC's release ID, e.g. fedora-29. */
  readonly pdcRelease: string;
  readonly builds: readonly { readonly nvr: string; readonly component: string }[];
  /** Kinds to consider; default every registered kind. */
  readonly kinds?: readonly string[];
}

/** One artifact a push must recompose: an image build of a kind and arch, or an OSTree. */
export interface AffectedArtifact {
  readonly kind: string;
  /** The image build's name (Fedora-Cloud-Base) or the tree's PDC component (fedora-iot). */
  readonly name: string;
  readonly arch: string;
  /** The push's builds it contains, by PDC. */
  readonly builds: readonly string[];
  /** One line per build: which PDC record says so. */
  readonly reasons: readonly string[];
}

export interface ImpactReport {
  readonly affected: readonly AffectedArtifact[];
  /** Kinds none of the builds touches, and why. */
  readonly unchanged: readonly { readonly kind: string; readonly reason: string }[];
}

/** How many PDC requests are in flight at once. */
const PDC_CONCURRENCY = 8;

/** The image build's name and arch: from the Koji archive's build N-V-R, else from the file name. */
function imageIdentity(image: z.infer<typeof BuildImageSchema>): { name: string; arch: string } | null {
  const buildNvr = image.archives?.find((a) => typeof a.build_nvr === 'string')?.build_nvr;
  const nvr = buildNvr ? /^(.+)-[^-]+-[^-]+$/.exec(buildNvr) : null;
  if (nvr && buildNvr && image.image_id.startsWith(`${buildNvr}.`)) {
    return { name: nvr[1]!, arch: image.image_id.slice(buildNvr.length + 1).split('.')[0]! };
  }
  const parsed = /^(.+)-[^-]+-[^-]+?\.(x86_64|aarch64|ppc64le|s390x|armhfp|i386|i686|noarch)\./.exec(image.image_id);
  return parsed ? { name: parsed[1]!, arch: parsed[2]! } : null;
}

export interface PdcActivities {
  lookupImpact(input: ImpactInput): Promise<ImpactReport>;
  /** The key a release's packages are signed with (PDC `releases/<id>/` sigkey). */
  releaseSigkey(pdcRelease: string): Promise<string>;
  /** Whether PDC has the release active; null when PDC has no such release. */
  pdcReleaseActive(pdcRelease: string): Promise<boolean | null>;
  /** `PATCH releases/<id>/ {active}`. */
  setPdcReleaseActive(pdcRelease: string, active: boolean): Promise<void>;
}

const PdcReleaseSchema = z.looseObject({ release_id: z.string(), sigkey: z.string().regex(/^[0-9a-f]{8}$/, 'expected an 8-hex-digit key ID') });

async function pdcList<T>(url: string, schema: z.ZodType<T>, http: HttpLimits): Promise<T[]> {
  const rows: T[] = [];
  for (let next: string | null = url; next; ) {
    const page = PdcPageSchema.safeParse(await getJson(next, { ...http, signal: activityCancellation() }));
    if (!page.success) throw ApplicationFailure.nonRetryable(`PDC ${next}: not a PDC page: ${issueLines(page.error).join('; ')}`, PDC_RESPONSE_INVALID);
    for (const row of page.data.results) {
      const parsed = schema.safeParse(row);
      if (!parsed.success) throw ApplicationFailure.nonRetryable(`PDC ${next}: ${issueLines(parsed.error).join('; ')}`, PDC_RESPONSE_INVALID);
      rows.push(parsed.data);
    }
    next = page.data.next;
  }
  return rows;
}

export function createPdcActivities(deps: { readonly pdcUrl: string; readonly http: HttpLimits }): PdcActivities {
  const base = deps.pdcUrl.replace(/\/+$/, '');
  const query = (path: string, params: Record<string, string>) => `${base}/${path}/?${new URLSearchParams({ ...params, page_size: '100' }).toString()}`;
  return {
    async releaseSigkey(pdcRelease: string): Promise<string> {
      const url = `${base}/releases/${encodeURIComponent(pdcRelease)}/`;
      const release = PdcReleaseSchema.safeParse(await getJson(url, { ...deps.http, signal: activityCancellation() }));
      if (!release.success) throw ApplicationFailure.nonRetryable(`PDC ${url}: ${issueLines(release.error).join('; ')}`, PDC_RESPONSE_INVALID);
      return release.data.sigkey;
    },

    async pdcReleaseActive(pdcRelease) {
      const url = `${base}/releases/${encodeURIComponent(pdcRelease)}/`;
      try {
        const release = z.looseObject({ active: z.boolean() }).safeParse(await getJson(url, { ...deps.http, signal: activityCancellation() }));
        if (!release.success) throw ApplicationFailure.nonRetryable(`PDC ${url}: ${issueLines(release.error).join('; ')}`, PDC_RESPONSE_INVALID);
        return release.data.active;
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === HTTP_NOT_FOUND) return null;
        throw err;
      }
    },

    async setPdcReleaseActive(pdcRelease, active) {
      await patchJson(`${base}/releases/${encodeURIComponent(pdcRelease)}/`, { active }, { ...deps.http, signal: activityCancellation() });
    },

    async lookupImpact(input: ImpactInput): Promise<ImpactReport> {
      const kinds: readonly ArtifactKind[] = input.kinds ? ARTIFACT_KINDS.filter((k) => input.kinds!.includes(k.kind)) : ARTIFACT_KINDS;
      const context = Context.current();
      // Thousands of requests, each listening on the activity's cancellation signal while in flight
      // (undici lets go of a listener only when its body is done): not a leak, so no warning.
      setMaxListeners(0, context.cancellationSignal);
      const byComponent = new Map<string, string[]>();
      for (const build of input.builds) byComponent.set(build.component, [...(byComponent.get(build.component) ?? []), build.nvr]);
      const artifacts = new Map<string, { kind: string; name: string; arch: string; builds: string[]; reasons: string[] }>();
      const hit = (kind: string, name: string, arch: string, nvr: string, reason: string) => {
        const key = `${kind}/${name}/${arch}`;
        const entry = artifacts.get(key) ?? { kind, name, arch, builds: [], reasons: [] };
        if (!entry.builds.includes(nvr)) entry.builds.push(nvr);
        entry.reasons.push(reason);
        artifacts.set(key, entry);
      };
      const components = [...byComponent.keys()];
      let done = 0;
      // Two queries per component, a few components at a time: a 2,000-update push is thousands of requests.
      const lookOne = async (component: string) => {
        const [images, trees] = await Promise.all([
          pdcList(query('build-images', { component_name: component, release_id: input.pdcRelease }), BuildImageSchema, deps.http),
          pdcList(query('release-component-relationships', { to_component_name: component, to_component_release: input.pdcRelease }), RelationshipSchema, deps.http),
        ]);
        for (const nvr of byComponent.get(component)!) {
          for (const kind of kinds) {
            const impact = kind.impact;
            if (impact.by === 'build-images') {
              for (const image of images.filter((i) => impact.imageFormats.includes(i.image_format))) {
                const identity = imageIdentity(image);
                if (!identity) throw ApplicationFailure.nonRetryable(`PDC build-image ${image.image_id}: cannot tell its image build's name and arch`, PDC_RESPONSE_INVALID);
                hit(kind.kind, identity.name, identity.arch, nvr, `${nvr}: its packages are in ${image.image_id} (PDC build-images)`);
              }
            } else {
              for (const rel of trees.filter((r) => r.type === impact.type)) {
                hit(kind.kind, rel.from_component.name, 'x86_64', nvr, `${nvr}: ${rel.from_component.name} includes ${component} (PDC ${impact.type})`);
              }
            }
          }
        }
        context.heartbeat({ components: ++done, of: components.length });
      };
      for (let next = 0; next < components.length; ) {
        await Promise.all(components.slice(next, next + PDC_CONCURRENCY).map(lookOne));
        next += PDC_CONCURRENCY;
      }
      const affected = [...artifacts.values()].sort((a, b) => `${a.kind}/${a.name}/${a.arch}`.localeCompare(`${b.kind}/${b.name}/${b.arch}`));
      return {
        affected,
        unchanged: kinds
          .filter((kind) => !affected.some((a) => a.kind === kind.kind))
          .map((kind) => ({ kind: kind.kind, reason: `none of the ${input.builds.length} builds is in a ${kind.kind} artifact of ${input.pdcRelease} according to PDC` })),
      };
    },
  };
}
