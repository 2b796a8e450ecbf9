/**
 * Activities by task queue. Each outside system has its own module; the factories take their
 * dependencies (pool, config) so workers wire them once and tests can build them against real servers.
 */
import type { Client } from '@temporalio/client';
import { join } from 'node:path';
import type { ComposeTestingConfig, PushPaths } from '../common/config.js';
import type { Pool } from '../common/db.js';
import type { HttpLimits } from '../common/http-body.js';
import type { BusOutlets } from '../bus/outlets.js';
import { createBodhiActivities, type BodhiActivities } from './bodhi.js';
import { createBusActivities, type BusActivities } from './bus.js';
import { createComposeServerActivities, type ComposeServerActivities } from './compose-server.js';
import type { ImageProvider } from '../common/compose-testing.js';
import { createImageHostActivities, type ImageHostActivities } from './image-host.js';
import { createImageTestActivities, type ImageTestActivities, type ImageTestDeps } from './image-test.js';
import { createKojiActivities, type KojiActivities } from './koji.js';
import { createMirrorActivities, type MirrorActivities } from './mirror.js';
import { createOstreeActivities, type OstreeActivities } from './ostree.js';
import { createOstreeLifecycleActivities, type OstreeLifecycleActivities } from './ostree-lifecycle.js';
import { createTwoWeekActivities, type TwoWeekActivities } from './two-week.js';
import { createPdcActivities, type PdcActivities } from './pdc.js';
import type { KojiLogin } from './koji.js';
import type { GatingLane } from '../common/config.js';
import { createReleaseActivities, type ReleaseActivities } from './release.js';
import type { OidcLogin } from './oidc.js';
import { createPushComposeActivities, type PushComposeActivities } from './push-compose.js';
import { createYumRepoActivities, type YumRepoActivities } from './yum-repo.js';
import { createSigningActivities, type SigningActivities } from './signing.js';
import { createResultsStoreActivities, type ResultsStoreActivities } from './results-store.js';

export interface RelengActivityDeps {
  readonly pool: Pool;
  /** Timeout and size cap of every call to an outside service. */
  readonly http: HttpLimits;
  readonly kojiHubUrl: string;
  /** The releng account's Koji certificate login; null: writes go unauthenticated. */
  readonly kojiLogin: KojiLogin | null;
  /** The releng account's OIDC client credentials for Bodhi; null: writes go without a token. */
  readonly bodhiLogin: OidcLogin | null;
  /** Koji's topurl, where image build files are downloaded from. */
  readonly kojiTopUrl: string;
  readonly kojiPollIntervalMs: number;
  /** Where messages go out (the fedmsg PUB socket, the AMQP broker); only this worker publishes. */
  readonly bus: BusOutlets;
  readonly composeTesting: ComposeTestingConfig;
  readonly dashboardUrl: string;
  /** For activities that signal other runs. */
  readonly temporal: Client;
  readonly bodhiUrl: string;
  readonly pdcUrl: string;
  /** Where pushes commit, compose, sync; and the key they sign with (paths only). */
  readonly push: PushPaths;
  /** The config file's gating lanes (the release lifecycle lays its own over them). */
  readonly gatingLanes: readonly GatingLane[];
}

export type RelengActivities = ComposeServerActivities &
  ResultsStoreActivities &
  KojiActivities &
  BusActivities &
  BodhiActivities &
  PdcActivities &
  OstreeActivities &
  TwoWeekActivities &
  OstreeLifecycleActivities &
  SigningActivities &
  MirrorActivities &
  PushComposeActivities &
  YumRepoActivities &
  ReleaseActivities;

/** Everything on the `releng` task queue. */
export function createRelengActivities(deps: RelengActivityDeps): RelengActivities {
  const bodhi = createBodhiActivities(deps);
  const pdc = createPdcActivities(deps);
  return {
    ...createComposeServerActivities(deps),
    ...createResultsStoreActivities(deps),
    ...createKojiActivities(deps),
    ...createBusActivities(deps),
    ...bodhi,
    ...createReleaseActivities({
      kojiHubUrl: deps.kojiHubUrl, kojiLogin: deps.kojiLogin, http: deps.http, bodhi, pdc,
      paths: { mirrorRoot: deps.push.mirrorRoot, archiveRoot: deps.push.archiveRoot, ostreeRepo: deps.push.ostreeRepo },
      signingKey: deps.push.signingKey,
      releaseConfig: { pool: deps.pool, lanes: deps.gatingLanes },
    }),
    ...pdc,
    ...createOstreeActivities({ repo: deps.push.ostreeRepo, workDir: deps.push.workDir, signingKey: deps.push.signingKey }),
    ...createOstreeLifecycleActivities({ repo: deps.push.ostreeRepo, archiveRoot: deps.push.archiveRoot, signingKey: deps.push.signingKey }),
    ...createSigningActivities({ key: deps.push.signingKey }),
    ...createMirrorActivities({ mirrorRoot: deps.push.mirrorRoot }),
    ...createPushComposeActivities({
      composeRoot: deps.push.composeRoot,
      composeUrl: deps.push.composeUrl,
      downloadDir: join(deps.push.workDir, 'koji-downloads'),
      http: deps.http,
    }),
    ...createYumRepoActivities({ kojiTopUrl: deps.kojiTopUrl, workDir: deps.push.workDir, http: deps.http }),
    ...createTwoWeekActivities({ pool: deps.pool, workDir: deps.push.workDir, downloadDir: join(deps.push.workDir, 'compose-downloads'), http: deps.http }),
  };
}

/** Everything on an image-test task queue (`image-libvirt`, `image-vbox`). */
export type ImageActivities = ImageHostActivities & ImageTestActivities;

export function createImageActivities(provider: ImageProvider, deps: ImageTestDeps): ImageActivities {
  return { ...createImageHostActivities(provider), ...createImageTestActivities(deps) };
}

export { createImageHostActivities, type ImageHostActivities };
