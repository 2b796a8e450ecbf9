/**
 * A Bodhi push, step by durable step, as the SOP reads:
 *
 *  1. batch      - the updates Bodhi has requested for the release (fetchBatch)
 *  2. mash       - their builds moved in Koji, in multicall batches (moveBuildsToTarget)
 *  3. repository - the target tag's repository written by Koji and fetched (writeRepository)
 *  4. impact     - PDC's word on which artifacts contain the builds (lookUpImpact)
 *  5. compose    - each changed OSTree and image composed in a child run (composeArtifacts)
 *  6. gather     - the images gathered into one push compose (gatherImages)
 *  7. test       - the compose tested; go on only when `testPolicy` holds (testImages)
 *  8. sign       - repository metadata, CHECKSUM files and commits signed (sign)
 *  9. sync       - everything rsynced to the master mirror (syncToMasterMirror)
 * 10. announce   - Bodhi told, `releng-o-tron.push.complete` published (announce)
 *
 * A step that still fails after its retries waits for an operator (retry, skip, abort); a push
 * that fails or is aborted undoes what it changed (compensate) and says what it could not.
 * The steps live in workflows/push/, one module per group, over one state object (PushRun).
 */
import { isCancellation } from '@temporalio/workflow';
import type { PushCompleteMessage } from '../common/schemas/outgoing.js';
import { composeArtifacts, gatherImages, lookUpImpact } from './push/compose.js';
import { compensate } from './push/compensate.js';
import type { PushInput } from './push/input.js';
import { fetchBatch, moveBuildsToTarget, writeRepository } from './push/mash.js';
import { announce, announceEmpty, sign, syncToMasterMirror, testImages } from './push/publish.js';
import { PushRun } from './push/run.js';

export { buildImage, composeTree, type BuildImageInput, type BuiltImage, type ComposedTree, type ComposeTreeInput } from './push/artifacts.js';
export type { ImageBuildSettings, PushInput, PushSettings } from './push/input.js';

export async function push(input: PushInput): Promise<PushCompleteMessage> {
  const run = new PushRun(input);
  const plan = await fetchBatch(run);
  if (plan.builds.length === 0) return announceEmpty(run, plan);
  try {
    await moveBuildsToTarget(run, plan);
    const mashed = await writeRepository(run, plan);
    const impact = await lookUpImpact(run, plan);
    const composed = await composeArtifacts(run, plan, impact, mashed);
    const compose = await gatherImages(run, plan, composed);
    const tested = await testImages(run, composed, compose);
    const signedBy = await sign(run, plan, mashed, composed, compose);
    const mirrored = await syncToMasterMirror(run, plan, mashed, composed, compose);
    return await announce(run, plan, { mashed, impact, composed, compose, tested, signedBy, mirrored });
  } catch (err) {
    const failure = await compensate(run, plan, err);
    // A cancelled push ends cancelled (its report is in the status); any other ends with the report.
    throw isCancellation(err) ? err : failure;
  }
}
