/**
 * The activities a push calls, each with the timeouts and retries that fit the system behind it.
 * A step that still fails after these retries waits for an operator (workflows/operator-gate.ts).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RelengActivities } from '../../activities/index.js';

export const { fetchPushBatch, lookupImpact, resolveBodhiReleases, releaseSigkey, reportPushToBodhi } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '30 minutes',
  // lookupImpact makes thousands of requests for a big push; it heartbeats per component.
  heartbeatTimeout: '2 minutes',
  // Bodhi or PDC away: retry; a 4xx or a body that does not fit is final (non-retryable).
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20 },
  summary: 'ask Bodhi or PDC',
});

export const { distRepoId } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: "read the repository ID from Koji's distRepo task",
});

export const { fetchDistRepo } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'fetch the mashed repository (sha256 checked)',
});

export const { moveBuilds } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  // Watches a batch's Koji tasks; a retry resumes the tasks the heartbeat names.
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'move a batch of builds in Koji (multicall)',
});

export const { composeOstree } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 hours',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5 },
  summary: 'commit the OSTree',
});

export const { startImageBuild, imageBuildOutput } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: 'Koji image build',
});

export const { assemblePushCompose } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
  summary: "download Koji's images into the push compose, write CHECKSUM and metadata",
});

export const { signOstreeCommit, signChecksumFile, signRepoMetadata } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 5 },
  summary: 'sign with gpg and verify',
});

export const { syncToMirror } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '30 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 10 },
  summary: 'rsync to the master mirror, swap latest',
});

export const { removeUnpublishedTree } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
  summary: 'remove a mirror tree the push left half-synced',
});
