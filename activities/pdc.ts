/**
 * PDC (product-definition-center): which artifacts contain a build's packages. For image kinds,
 * `build-images/?component_name=` (an image whose RPMs come from the component's SRPM); for
 * OSTree, release-component relationships naming the packages a tree includes. The answer keeps
 * its reasons, so a run shows why each artifact was or was not recomposed.
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ARTIFACT_KINDS, type ArtifactKind } from '../common/artifacts/index.js';
import { issueLines } from '../common/schemas/issues.js';
import { activityCancellation, getJson } from './http.js';

const PdcPageSchema = z.object({ count: z.number(), next: z.string().nullable(), results: z.array(z.unknown()) });
const BuildImageSchema = z.looseObject({ image_id: z.string(), image_format: z.string(), rpms: z.array(z.string()), releases: z.array(z.string()) });
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

export interface ArtifactImpact {
  readonly kind: string;
  readonly affected: boolean;
  /** One line per build that touches it, or why none does. */
  readonly reasons: readonly string[];
}

export interface PdcActivities {
  lookupImpact(input: ImpactInput): Promise<ArtifactImpact[]>;
  /** The key a release's packages are signed with (PDC `releases/<id>/` sigkey). */
  releaseSigkey(pdcRelease: string): Promise<string>;
}

const PdcReleaseSchema = z.looseObject({ release_id: z.string(), sigkey: z.string().regex(/^[0-9a-f]{8}$/, 'expected an 8-hex-digit key ID') });

async function pdcList<T>(url: string, schema: z.ZodType<T>, timeoutMs: number): Promise<T[]> {
  const rows: T[] = [];
  for (let next: string | null = url; next; ) {
    const page = PdcPageSchema.safeParse(await getJson(next, { timeoutMs, signal: activityCancellation() }));
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

export function createPdcActivities(deps: { readonly pdcUrl: string; readonly requestTimeoutMs: number }): PdcActivities {
  const base = deps.pdcUrl.replace(/\/+$/, '');
  const query = (path: string, params: Record<string, string>) => `${base}/${path}/?${new URLSearchParams({ ...params, page_size: '100' }).toString()}`;
  return {
    async releaseSigkey(pdcRelease: string): Promise<string> {
      const url = `${base}/releases/${encodeURIComponent(pdcRelease)}/`;
      const release = PdcReleaseSchema.safeParse(await getJson(url, { timeoutMs: deps.requestTimeoutMs, signal: activityCancellation() }));
      if (!release.success) throw ApplicationFailure.nonRetryable(`PDC ${url}: ${issueLines(release.error).join('; ')}`, PDC_RESPONSE_INVALID);
      return release.data.sigkey;
    },

    async lookupImpact(input: ImpactInput): Promise<ArtifactImpact[]> {
      const kinds: readonly ArtifactKind[] = input.kinds ? ARTIFACT_KINDS.filter((k) => input.kinds!.includes(k.kind)) : ARTIFACT_KINDS;
      const hits = new Map<string, string[]>(kinds.map((k) => [k.kind, []]));
      for (const build of input.builds) {
        const images = await pdcList(query('build-images', { component_name: build.component, release_id: input.pdcRelease }), BuildImageSchema, deps.requestTimeoutMs);
        const trees = await pdcList(
          query('release-component-relationships', { to_component_name: build.component, to_component_release: input.pdcRelease }),
          RelationshipSchema,
          deps.requestTimeoutMs,
        );
        for (const kind of kinds) {
          const impact = kind.impact;
          if (impact.by === 'build-images') {
            for (const image of images.filter((i) => impact.imageFormats.includes(i.image_format))) {
              hits.get(kind.kind)!.push(`${build.nvr}: its packages are in ${image.image_id} (PDC build-images)`);
            }
          } else {
            for (const rel of trees.filter((r) => r.type === impact.type)) {
              hits.get(kind.kind)!.push(`${build.nvr}: ${rel.from_component.name} includes ${build.component} (PDC ${impact.type})`);
            }
          }
        }
      }
      return kinds.map((kind) => {
        const reasons = hits.get(kind.kind)!;
        return reasons.length > 0
          ? { kind: kind.kind, affected: true, reasons }
          : { kind: kind.kind, affected: false, reasons: [`none of the ${input.builds.length} builds is in a ${kind.kind} artifact of ${input.pdcRelease} according to PDC`] };
      });
    },
  };
}
