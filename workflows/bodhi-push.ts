/**
 * One Bodhi push (`bodhi.composer.start`): a child push per release and request it names,
 * in parallel, as Bodhi's composer ran one thread per compose.
 */
import { executeChild, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { workflowIds } from '../common/workflow-ids.js';
import { failureText } from '../common/failure-text.js';
import { push } from './push.js';
import { resolveBodhiReleases } from './push/activities.js';
import type { PushSettings } from './push/input.js';

export interface BodhiPushInput extends PushSettings {
  /** The push's ID, from the message's time: `20190627T000005Z`. */
  readonly pushId: string;
  /** `bodhi.composer.start`'s composes: one per release and request. */
  readonly composes: readonly { readonly release_id: number; readonly request: string; readonly content_type: string; readonly security: boolean }[];
}

export interface BodhiPushResult {
  readonly pushes: readonly { readonly release: string; readonly request: string; readonly workflowId: string; readonly outcome: 'complete' | 'failed'; readonly detail: string }[];
  readonly skipped: readonly { readonly release_id: number; readonly request: string; readonly content_type: string; readonly reason: string }[];
}

export async function bodhiPush(input: BodhiPushInput): Promise<BodhiPushResult> {
  const names = await resolveBodhiReleases([...new Set(input.composes.map((c) => c.release_id))]);
  const skipped: BodhiPushResult['skipped'][number][] = [];
  const wanted: { release: string; request: 'testing' | 'stable' }[] = [];
  for (const c of input.composes) {
    const name = names[String(c.release_id)];
    const reason =
      c.content_type !== 'rpm' ? `${c.content_type} content is not pushed by releng-o-tron yet`
      : c.request !== 'testing' && c.request !== 'stable' ? `request ${c.request} is not a push`
      : !name ? `Bodhi knows no release with id ${c.release_id}`
      : null;
    if (reason || !name) skipped.push({ ...c, reason: reason ?? 'unknown release' });
    else wanted.push({ release: name, request: c.request as 'testing' | 'stable' });
  }
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'pushing' }]);
  setCurrentDetails(`**pushing** ${wanted.map((w) => `${w.release} ${w.request}`).join(', ') || 'nothing'}; ${skipped.length} compose(s) not handled`);
  const settled = await Promise.allSettled(
    wanted.map((w) =>
      executeChild(push, {
        workflowId: workflowIds.push(w.release, w.request, input.pushId),
        args: [{
          release: w.release, request: w.request, pushId: input.pushId, ostreeRef: input.ostreeRef, sign: input.sign, operatorReminderMs: input.operatorReminderMs,
          imageBuild: input.imageBuild, testPolicy: input.testPolicy, mashBatch: input.mashBatch,
          ...(input.ostreeTrees ? { ostreeTrees: input.ostreeTrees } : {}), ...(input.arches ? { arches: input.arches } : {}),
        }],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.release, value: w.release }],
        staticSummary: `Push ${w.release} ${w.request} (${input.pushId})`,
      }),
    ),
  );
  const pushes = wanted.map((w, i) => {
    const result = settled[i]!;
    const workflowId = workflowIds.push(w.release, w.request, input.pushId);
    return result.status === 'fulfilled'
      ? { ...w, workflowId, outcome: 'complete' as const, detail: `${result.value.updates.length} updates, ${result.value.artifacts.filter((a) => a.state === 'composed').length} artifacts composed` }
      : { ...w, workflowId, outcome: 'failed' as const, detail: failureText(result.reason) };
  });
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  setCurrentDetails(`**done**: ${pushes.map((p) => `${p.release} ${p.request}: ${p.outcome}`).join(', ') || 'nothing pushed'}`);
  return { pushes, skipped };
}
