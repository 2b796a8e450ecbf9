/**
 * Activities by task queue. Each outside system has its own module; the factories take their
 * dependencies (pool, config) so workers wire them once and tests can build them against real servers.
 */
import type { Pool } from '../common/db.js';
import { createComposeServerActivities } from './compose-server.js';
import { createImageHostActivities } from './image-host.js';
import { createResultsStoreActivities } from './results-store.js';

export interface RelengActivityDeps {
  readonly pool: Pool;
  readonly requestTimeoutMs: number;
}

/** Everything on the `releng` task queue. */
export function createRelengActivities(deps: RelengActivityDeps) {
  return {
    ...createComposeServerActivities(deps),
    ...createResultsStoreActivities(deps),
  };
}

export type RelengActivities = ReturnType<typeof createRelengActivities>;

/** Everything on an image-test task queue (`image-libvirt`, `image-vbox`). */
export { createImageHostActivities };
export type ImageHostActivities = ReturnType<typeof createImageHostActivities>;
