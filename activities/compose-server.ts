/**
 * Reading a pungi compose tree over HTTP (kojipkgs in production, the sandbox locally):
 * its productmd metadata, checked against the schema, reduced to what later steps need.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { ComposeInfoSchema, ImagesJsonSchema } from '../common/schemas/productmd.js';
import { getJson, activityCancellation } from './http.js';
import type { HttpLimits } from '../common/http-body.js';

export const INVALID_COMPOSE_METADATA = 'InvalidComposeMetadata';
export const IMAGE_PATH_ESCAPES_COMPOSE = 'ImagePathEscapesCompose';

export interface ComposeImage {
  readonly variant: string;
  readonly arch: string;
  readonly subvariant: string | null;
  readonly type: string;
  readonly format: string;
  /** Relative to the compose's `compose/` directory, as in images.json. */
  readonly path: string;
  readonly url: string;
  readonly sizeBytes: number;
  readonly sha256: string | null;
}

export interface ComposeMetadata {
  readonly composeId: string;
  readonly date: string;
  readonly type: string;
  readonly respin: number;
  readonly label: string | null;
  readonly release: { readonly name: string; readonly short: string; readonly version: string };
  readonly metadataVersion: string;
  readonly variants: readonly string[];
  readonly images: readonly ComposeImage[];
}

export interface FetchComposeMetadataInput {
  /** The compose URL from the bus message, ending in `/compose`. */
  readonly location: string;
  readonly expectedComposeId: string;
}

function parseOrFail<S extends z.ZodType>(schema: S, data: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
      .join('; ');
    throw ApplicationFailure.nonRetryable(`${what} is not valid productmd metadata: ${issues}`, INVALID_COMPOSE_METADATA);
  }
  return result.data;
}

/** Resolves an image path under the compose root, refusing anything that would leave it. */
export function resolveImageUrl(location: string, path: string): string {
  const base = new URL(location.endsWith('/') ? location : `${location}/`);
  const resolved = new URL(path, base);
  if (path.startsWith('/') || /^[a-z]+:/i.test(path) || resolved.origin !== base.origin || !resolved.pathname.startsWith(base.pathname)) {
    throw ApplicationFailure.nonRetryable(
      `image path ${JSON.stringify(path)} escapes the compose tree ${base.href}`,
      IMAGE_PATH_ESCAPES_COMPOSE,
    );
  }
  return resolved.href;
}

export interface ComposeServerActivities {
  fetchComposeMetadata(input: FetchComposeMetadataInput): Promise<ComposeMetadata>;
}

export function createComposeServerActivities(deps: { readonly http: HttpLimits }): ComposeServerActivities {
  return {
    async fetchComposeMetadata(input: FetchComposeMetadataInput): Promise<ComposeMetadata> {
      const root = input.location.replace(/\/+$/, '');
      const signal = activityCancellation();
      const options = { ...deps.http, signal };
      const composeInfo = parseOrFail(
        ComposeInfoSchema,
        await getJson(`${root}/metadata/composeinfo.json`, options),
        `${root}/metadata/composeinfo.json`,
      );
      const imagesJson = parseOrFail(
        ImagesJsonSchema,
        await getJson(`${root}/metadata/images.json`, options),
        `${root}/metadata/images.json`,
      );
      const compose = composeInfo.payload.compose;
      for (const [what, id] of [
        ['composeinfo.json', compose.id],
        ['images.json', imagesJson.payload.compose.id],
      ] as const) {
        if (id !== input.expectedComposeId) {
          throw ApplicationFailure.nonRetryable(
            `${what} at ${root} describes compose ${id}, but the message announced ${input.expectedComposeId}`,
            INVALID_COMPOSE_METADATA,
          );
        }
      }
      const images: ComposeImage[] = [];
      for (const [variant, arches] of Object.entries(imagesJson.payload.images)) {
        for (const [arch, list] of Object.entries(arches)) {
          for (const image of list) {
            images.push({
              variant,
              arch,
              subvariant: image.subvariant ?? null,
              type: image.type,
              format: image.format,
              path: image.path,
              url: resolveImageUrl(root, image.path),
              sizeBytes: image.size,
              sha256: image.checksums['sha256'] ?? null,
            });
          }
        }
      }
      const release = composeInfo.payload.release;
      return {
        composeId: compose.id,
        date: compose.date,
        type: compose.type,
        respin: compose.respin,
        label: compose.label ?? null,
        release: { name: release.name, short: release.short, version: release.version },
        metadataVersion: imagesJson.header.version,
        variants: Object.keys(composeInfo.payload.variants).sort(),
        images,
      };
    },
  };
}
