/**
 * Rawhide-style gating of one build: it was tagged into a lane's gate tag; its test results
 * arrive as signals (from CI messages or a Greenwave decision); by the lane's policy it then
 * moves to the release tag or to quarantine, and the packager is told on the bus.
 *
 * Messages may come in any order: the tag message and every result signal-with-start this same
 * run (`gate/<gate tag>/<nvr>`), so a result that beats the tag message is kept, not lost.
 */
import {
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { GatingLane } from '../common/config.js';
import { durationToMs } from '../common/duration.js';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';
import { PROJECT_TOPIC, type GatingVerdict, type GatingVerdictMessage } from '../common/schemas/outgoing.js';
import {
  buildTaggedSignal,
  GATE_NEVER_ENTERED,
  gateBuildStatusQuery,
  greenwaveDecisionSignal,
  testResultSignal,
  type BuildTagged,
  type GateStage,
} from './api/gate-build.js';
import { waitingForQuery, type Waiting } from './api/waiting.js';
import { evaluateGate, type GateResult, type GateVerdict, type GreenwaveVerdict } from './gating-policy.js';
import { moveBuildInKoji } from './koji-steps.js';
import { newMsgId, publish } from './messages.js';

const { describeBuild } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
  summary: 'look the build up in Koji',
});

export interface GateBuildInput {
  readonly nvr: string;
  /** The lane as configured when the gate opened; later config changes do not reach running gates. */
  readonly lane: GatingLane;
}

export interface GateBuildResult {
  readonly nvr: string;
  readonly verdict: GatingVerdict;
  readonly reason: string;
  readonly toTag: string;
  readonly kojiTaskId: number | null;
  readonly notificationMsgId: string;
}

export async function gateBuild(input: GateBuildInput): Promise<GateBuildResult> {
  const { lane, nvr } = input;
  let tagged: BuildTagged | null = null;
  const results = new Map<string, GateResult>();
  let greenwave: GreenwaveVerdict | null = null;
  let stage: GateStage = 'checking-build';
  let destination: string | null = null;
  const verdict = (): GateVerdict => evaluateGate(lane.requiredTests, results, greenwave);

  setHandler(buildTaggedSignal, (event) => {
    if (event.tag === lane.gateTag) tagged ??= event;
  }, { description: `Koji tagged the build into ${lane.gateTag} (from buildsys.tag).` });
  setHandler(testResultSignal, (result) => {
    results.set(result.testcase, result);
    if (stage === 'awaiting-results') show();
  }, { description: 'A CI result for this build (from ci.koji-build.test.complete/error); the newest per testcase counts.' });
  setHandler(greenwaveDecisionSignal, (decision) => {
    if (lane.greenwaveContext) greenwave = decision;
  }, { description: `Greenwave's decision on this build${lane.greenwaveContext ? ` in context ${lane.greenwaveContext}` : ' (ignored: the lane has no Greenwave context)'}.` });
  setHandler(gateBuildStatusQuery, () => ({ nvr, lane: lane.name, stage, verdict: verdict(), results: [...results.values()], destination }), {
    description: 'Stage, the verdict so far and why, every result received, and where the build went.',
  });

  let deadline: string | null = null;
  setHandler(waitingForQuery, (): Waiting[] => {
    const since = workflowInfo().startTime.toISOString();
    if (stage === 'awaiting-tag') return [{ for: `Koji to tag ${nvr} into ${lane.gateTag}`, since, until: deadline, answer: null }];
    if (stage !== 'awaiting-results') return [];
    return [{ for: `results for ${nvr}: ${verdict().reason}`, since, until: deadline, answer: null }];
  }, { description: 'What the gate waits for (the tag, or results) and until when.' });

  function show(): void {
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    const v = verdict();
    const lines = [...results.values()].map((r) => `- ${r.testcase}: ${r.outcome}${r.url ? ` ([log](${r.url}))` : ''}`);
    setCurrentDetails(`**${stage}** (${lane.name}): ${destination ? `→ ${destination}; ` : ''}${v.reason}\n\n${lines.join('\n')}`);
  }

  show();
  const build = await describeBuild(nvr);
  if (build.tags.includes(lane.gateTag)) tagged ??= { tag: lane.gateTag, owner: build.owner, msgId: 'koji' };
  const timeoutMs = durationToMs(lane.resultTimeout);
  const openedAt = Date.now();
  deadline = new Date(openedAt + timeoutMs).toISOString();

  stage = 'awaiting-tag';
  show();
  if (!(await condition(() => tagged !== null, timeoutMs))) {
    // Results came for a build that never entered the gate: nothing to move.
    // Waiting longer cannot help, and retrying the run would wait the same timeout again.
    log.warn('build never entered the gate tag', { nvr, gateTag: lane.gateTag });
    stage = 'failed';
    show();
    throw ApplicationFailure.nonRetryable(`${nvr} was not tagged into ${lane.gateTag} within ${lane.resultTimeout}; ${results.size} result(s) received, nothing moved`, GATE_NEVER_ENTERED);
  }

  stage = 'awaiting-results';
  show();
  const settled = await condition(() => verdict().state !== 'waiting', Math.max(1, timeoutMs - (Date.now() - openedAt)));
  const final = verdict();
  const passed = settled && final.state === 'passed';
  const reason = settled ? final.reason : `no verdict after ${lane.resultTimeout}: ${final.reason}`;
  const gatingVerdict: GatingVerdict = passed ? 'passed' : 'quarantined';
  destination = passed ? lane.releaseTag : lane.quarantineTag;

  stage = 'moving';
  show();
  const { taskId } = await moveBuildInKoji({ nvr, fromTag: lane.gateTag, toTag: destination });

  stage = 'notifying';
  show();
  const notificationMsgId = newMsgId();
  const body: GatingVerdictMessage = {
    nvr,
    owner: build.owner,
    lane: lane.name,
    from_tag: lane.gateTag,
    to_tag: destination,
    verdict: gatingVerdict,
    reason,
    results: [...results.values()].map((r) => ({ testcase: r.testcase, outcome: r.outcome, url: r.url })),
    workflow_id: workflowInfo().workflowId,
  };
  await publish({ topic: `${PROJECT_TOPIC}.gating.${gatingVerdict}`, body }, notificationMsgId);

  stage = 'done';
  show();
  return { nvr, verdict: gatingVerdict, reason, toTag: destination, kojiTaskId: taskId, notificationMsgId };
}
