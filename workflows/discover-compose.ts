/**
 * A compose finished: read its metadata from the compose server, check it, record it.
 * The first step of everything that happens to a compose (testing, releases).
 */
import {
  ApplicationFailure,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  log,
} from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { ComposeMetadata } from '../activities/compose-server.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { discoverComposeStatusQuery, type DiscoverComposeStatus } from './api/discover-compose.js';

const { fetchComposeMetadata } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 minutes',
  // A compose server that is down or overloaded usually recovers; broken metadata never does
  // (fetchComposeMetadata marks those failures non-retryable).
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'read composeinfo.json and images.json',
});

const { recordCompose } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  summary: 'record the compose in the results store',
});

export interface DiscoverComposeInput {
  readonly composeId: string;
  /** The compose URL, ending in `/compose`. */
  readonly location: string;
  readonly pungiStatus: string;
}

export interface DiscoverComposeResult {
  readonly composeId: string;
  readonly release: string;
  readonly metadataVersion: string;
  readonly variants: readonly string[];
  readonly imageCount: number;
}

export async function discoverCompose(input: DiscoverComposeInput): Promise<DiscoverComposeResult> {
  let status: DiscoverComposeStatus = {
    composeId: input.composeId,
    stage: 'fetching-metadata',
    release: null,
    imageCount: null,
    error: null,
  };
  setHandler(discoverComposeStatusQuery, () => status, {
    description: 'Where the discovery is: stage, release, number of images, error.',
  });
  const enter = (next: Partial<DiscoverComposeStatus>, details: string) => {
    status = { ...status, ...next };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.stage }]);
    setCurrentDetails(`**${status.stage}**: ${details}`);
  };

  enter({ stage: 'fetching-metadata' }, `reading metadata under ${input.location}`);
  let metadata: ComposeMetadata;
  try {
    metadata = await fetchComposeMetadata({ location: input.location, expectedComposeId: input.composeId });
  } catch (err) {
    const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    enter({ stage: 'failed', error: reason }, reason);
    throw ApplicationFailure.nonRetryable(`compose ${input.composeId}: ${reason}`, 'ComposeDiscoveryFailed');
  }
  const release = `${metadata.release.short}-${metadata.release.version}`;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.release, value: metadata.release.version }]);
  enter(
    { stage: 'recording', release, imageCount: metadata.images.length },
    `${metadata.images.length} images in ${metadata.variants.length} variants (productmd ${metadata.metadataVersion})`,
  );

  await recordCompose({ metadata, location: input.location, pungiStatus: input.pungiStatus });
  enter({ stage: 'done' }, `recorded ${release}: ${metadata.images.length} images`);
  log.info('compose discovered', { composeId: input.composeId, images: metadata.images.length });
  return {
    composeId: metadata.composeId,
    release,
    metadataVersion: metadata.metadataVersion,
    variants: metadata.variants,
    imageCount: metadata.images.length,
  };
}
